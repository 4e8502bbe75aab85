"""Hypothesis profiles for the project's own tests (the conformance profiles live in the package)."""

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

pytest_plugins = ["pytester"]  # the plugin's own tests run pytest as users do

# One thread per process: pytest-xdist already runs a worker per core, and torch's (and XLA's)
# own thread pools on top of that only contend (set before any test imports them; inherited by
# the CLI and rank-pool subprocesses the tests start).
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
if "torch" in sys.modules:
    sys.modules["torch"].set_num_threads(1)

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
