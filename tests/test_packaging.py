"""The installed distribution exposes only the adamspec namespace, and the CLI answers."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import adamspec

# The console script installed beside this interpreter (the venv need not be activated).
SCRIPT = str(Path(sys.executable).with_name("adamspec"))


@pytest.mark.parametrize("name", ["reference", "conformance", "adapters", "spec"])
def test_no_top_level_modules_leak(name):
    # Run from a neutral directory so the repository's folders are not on sys.path.
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is not None)"
    proc = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True)
    assert proc.returncode == 0, f"a top-level {name!r} module is importable"


@pytest.mark.parametrize("name", ["adamspec.reference", "adamspec.conformance",
                                  "adamspec.adapters", "adamspec.spec"])
def test_namespaced_packages_import(name):
    assert importlib.util.find_spec(name) is not None


def test_core_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None; import adamspec, adamspec.reference, "
            "adamspec.spec, adamspec.conformance, adamspec.adapters, adamspec.cli")
    subprocess.run([sys.executable, "-c", code], cwd="/", check=True)


@pytest.mark.parametrize("argv", [[SCRIPT], [sys.executable, "-m", "adamspec"]])
def test_version_names_package_and_spec(argv):
    out = subprocess.run([*argv, "--version"], capture_output=True, text=True, check=True).stdout
    assert adamspec.__version__ in out and adamspec.spec_version() in out


def test_spec_command_lists_and_prints_clauses():
    listing = subprocess.run([SCRIPT, "spec"], capture_output=True, text=True, check=True).stdout
    assert "AW-3" in listing
    one = subprocess.run([SCRIPT, "spec", "AW-3"], capture_output=True, text=True, check=True)
    assert one.stdout.startswith("AW-3 — ")
    bad = subprocess.run([SCRIPT, "spec", "XX-1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "XX-1" in bad.stderr
