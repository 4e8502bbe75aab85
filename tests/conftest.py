"""Hypothesis profiles for the project's own tests (the conformance profiles live in the package)."""

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

pytest_plugins = ["pytester"]  # the plugin's own tests run pytest as users do

settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("ADAMSPEC_TEST_PROFILE", "ci"))

# tests/fixtures holds importable wrong implementations (also loaded by the CLI tests as
# ``broken_adapters:NAME`` through PYTHONPATH).
sys.path.insert(0, str(Path(__file__).with_name("fixtures")))
