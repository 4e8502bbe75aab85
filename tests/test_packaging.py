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
            "adamspec.spec, adamspec.conformance, adamspec.adapters, adamspec.cli, "
            "adamspec.reference.fast_torch, adamspec.verify")
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


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    """The wheel built from this checkout, installed (not editable) into a fresh venv.

    The venv finds the dependencies through a .pth line naming this interpreter's
    site-packages, so nothing is downloaded but the build backend; adamspec itself comes
    only from the wheel.
    """
    import site
    import venv

    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    (wheel,) = (tmp / "dist").glob("adamspec-*.whl")
    venv.create(tmp / "venv", with_pip=True)
    python = tmp / "venv" / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    # --ignore-installed: the adamspec of this interpreter (editable, or tox's own install) is visible
    # through deps.pth, and pip would otherwise call the wheel "already satisfied" and install nothing
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "--ignore-installed", "-q", str(wheel)], check=True,
                   capture_output=True, timeout=600)
    return python


@pytest.mark.parametrize("cwd", ["root", "elsewhere"])
def test_the_wheel_runs_from_the_checkout_root_and_elsewhere(wheel_venv, cwd, tmp_path):
    where = ROOT if cwd == "root" else tmp_path
    spec = subprocess.run([wheel_venv, "-m", "adamspec", "spec", "AW-3"], cwd=where, capture_output=True, text=True)
    assert spec.returncode == 0 and spec.stdout.startswith("AW-3 — "), spec.stderr
    script = wheel_venv.with_name("adamspec")
    version = subprocess.run([script, "--version"], cwd=where, capture_output=True, text=True)
    assert version.returncode == 0 and adamspec.spec_version() in version.stdout
    # the package's own pytest entry: the plugin from the wheel's entry point, the tests inside it
    proc = subprocess.run([wheel_venv, "-m", "pytest", "--pyargs", "adamspec.conformance", "--adapter",
                           "numpy.adamw", "-k", "test_first_step or test_validation", "-p", "no:cacheprovider",
                           "-q", "--rootdir", str(where)], cwd=where, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "2 passed" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_the_wheel_carries_every_knob_module(wheel_venv, tmp_path):
    """reference/knobs/ is a subpackage the reference finds by listing it: the wheel has every file."""
    code = ("import adamspec.reference.knobs as k, adamspec.reference.hyper as h; "
            "print(k.__file__); print(' '.join(k.MODULES)); print(' '.join(h.KNOBS))")
    out = subprocess.run([wheel_venv, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    where, modules, knobs = out.stdout.splitlines()
    assert not Path(where).resolve().is_relative_to(ROOT), where  # the wheel's copy, not the checkout
    files = sorted(p.stem for p in (ROOT / "reference" / "knobs").glob("*.py") if p.stem not in ("__init__", "base"))
    assert sorted(modules.split()) == files and knobs == modules


def test_file_path_is_import_path():
    """adamspec/reference/bound.py is adamspec.reference.bound, from a checkout as installed."""
    for name in ("spec", "reference", "conformance", "adapters"):
        assert (ROOT / "adamspec" / name).resolve() == ROOT / name
    import adamspec.reference.bound as bound

    assert Path(bound.__file__).resolve() == (ROOT / "reference" / "bound.py")
    import adamspec.reference.knobs.eps_placement as eps_placement

    assert Path(eps_placement.__file__).resolve() == (ROOT / "reference" / "knobs" / "eps_placement.py")
