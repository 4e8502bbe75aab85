"""One module per variant knob (reference/knobs/<knob>.py), each with every piece of every value.

A knob module holds its table entry (``KNOB``), its values' parameters and, for each value, its
exact piece (``EXACT``), its bound terms (``BOUND``) and its numpy formula (``NUMPY``). The
package finds the modules by listing itself, and ``check_pieces`` fails the import of one whose
table names a value without all three: here that is shown on constructed modules and on a real
import of a copy of the package with a value added to a table and not implemented.
"""

import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from adamspec.reference import bound, hyper, knobs, steps
from adamspec.reference.knobs import base

ROOT = Path(__file__).resolve().parents[1]
KNOB_DIR = ROOT / "reference" / "knobs"


def test_every_file_of_the_package_is_a_knob_and_the_table_is_theirs():
    files = sorted(p.stem for p in KNOB_DIR.glob("*.py") if p.stem not in ("__init__", "base"))
    assert sorted(knobs.MODULES) == files
    assert list(hyper.KNOBS) == list(knobs.MODULES)  # in the order of their VAR clauses
    clauses = [int(k.clause.split("-")[1]) for k in hyper.KNOBS.values()]
    assert clauses == sorted(clauses)
    for name, module in knobs.MODULES.items():
        assert module.__name__ == f"adamspec.reference.knobs.{name}"
        assert hyper.KNOBS[name] is module.KNOB
        for param, par in module.PARAMETERS.items():
            assert hyper.KNOB_PARAMETERS[param] == (name, par.value)
            assert getattr(hyper.CANONICAL, param) == par.default


@pytest.mark.parametrize("name", sorted(knobs.MODULES))
def test_every_value_has_each_piece(name):
    module = knobs.MODULES[name]
    base.check_pieces(module)
    for piece in base.PIECES:
        assert set(getattr(module, piece)) == set(module.KNOB.values), (name, piece)


def test_the_step_modules_call_every_knob():
    """steps and bound name the knobs whose pieces they call; their HANDLED are those pieces."""
    for module, piece in ((steps, "EXACT"), (bound, "BOUND")):
        assert set(module.CALLS) == set(knobs.MODULES)
        assert {k: set(getattr(m, piece)) for k, m in knobs.MODULES.items()} == module.HANDLED
    from adamspec.adapters import numpy_impl

    assert set(numpy_impl.CALLS) == set(knobs.MODULES)


def _module_like(module, **changes):
    """A constructed knob module: ``module``'s attributes, then ``changes``."""
    fake = types.ModuleType(module.__name__)
    for attr in ("KNOB", "PARAMETERS", *base.PIECES):
        setattr(fake, attr, dict(getattr(module, attr)) if attr in base.PIECES else getattr(module, attr))
    for attr, value in changes.items():
        setattr(fake, attr, value)
    return fake


@pytest.mark.parametrize("piece", base.PIECES)
@pytest.mark.parametrize("name", sorted(knobs.MODULES))
def test_a_value_added_to_a_table_without_a_piece_fails(name, piece):
    module = knobs.MODULES[name]
    knob = module.KNOB
    wider = base.Knob(knob.values + ("sideways",), knob.canonical, knob.clause, knob.meaning)
    # every piece for the new value but one
    pieces = {p: dict(getattr(module, p), sideways=lambda *a: None) for p in base.PIECES if p != piece}
    fake = _module_like(module, KNOB=wider, **pieces)
    with pytest.raises(ImportError, match=rf"{re.escape(module.__name__)} \({knob.clause}\): {piece} has no "
                                          rf"piece for the values \['sideways'\]"):
        base.check_pieces(fake)


@pytest.mark.parametrize("name", sorted(knobs.MODULES))
def test_a_piece_for_a_value_outside_the_table_fails(name):
    module = knobs.MODULES[name]
    fake = _module_like(module, BOUND=dict(module.BOUND, sideways=lambda *a: None))
    with pytest.raises(ImportError, match=r"BOUND has pieces for \['sideways'\], which are not in KNOB.values"):
        base.check_pieces(fake)


def test_a_module_without_a_table_or_a_piece_fails():
    module = knobs.MODULES["decay_order"]
    with pytest.raises(ImportError, match="defines no KNOB"):
        base.check_pieces(types.ModuleType("adamspec.reference.knobs.nothing"))
    fake = _module_like(module)
    del fake.NUMPY
    with pytest.raises(ImportError, match="decay_order \\(VAR-2\\): no NUMPY pieces at all"):
        base.check_pieces(fake)
    stray = {"eps_root": base.Parameter("sideways", 0.0, False, "a parameter of no value")}
    with pytest.raises(ImportError, match="parameter eps_root belongs to 'sideways'"):
        base.check_pieces(_module_like(module, PARAMETERS=stray))
    # a piece that is not a function is no piece
    with pytest.raises(ImportError, match=r"EXACT has no piece for the values \['after'\]"):
        base.check_pieces(_module_like(module, EXACT=dict(module.EXACT, after=None)))


def _copy_of_the_package(tmp_path: Path) -> Path:
    """The adamspec package and the folders it links to, copied: a change there is one no other
    test sees. Imported from that folder (it comes first on sys.path)."""
    for name in ("adamspec", "reference", "spec", "conformance", "adapters"):
        shutil.copytree(ROOT / name, tmp_path / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _import_in(where: Path, code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(where), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-c", code], cwd=where, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_import_fails_naming_the_module_and_the_value(tmp_path):
    """A value written into a knob's table and nowhere else: importing the reference is an
    ImportError naming the knob module, the value, and each piece it lacks."""
    where = _copy_of_the_package(tmp_path)
    path = where / "reference" / "knobs" / "decay_order.py"
    text = path.read_text()
    assert 'KNOB = Knob(("before", "after"),' in text
    path.write_text(text.replace('KNOB = Knob(("before", "after"),', 'KNOB = Knob(("before", "after", "twice"),'))
    out = _import_in(where, "import adamspec.reference.knobs as k; print(k.__file__)")
    assert out.returncode != 0, out.stdout
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: adamspec.reference.knobs.decay_order (VAR-2): "), out.stderr
    for piece in base.PIECES:
        assert f"{piece} has no piece for the values ['twice'] of KNOB.values" in last, last
    # and the copy is the one imported (the same code, unchanged, imports)
    path.write_text(text)
    ok = _import_in(where, "import adamspec.reference.knobs as k; print(k.__file__)")
    assert ok.returncode == 0 and ok.stdout.startswith(str(where)), (ok.stdout, ok.stderr)


def test_a_new_knob_module_that_the_step_does_not_call_fails_the_import(tmp_path):
    """A new file in reference/knobs/ is a new knob (found by listing the package): with its
    pieces but no call of them in the exact step, importing steps names the knob."""
    where = _copy_of_the_package(tmp_path)
    (where / "reference" / "knobs" / "grad_clip.py").write_text(
        '"""VAR-9 — a knob nobody calls."""\n'
        "from adamspec.reference.knobs.base import Knob\n"
        'KNOB = Knob(("off", "on"), "off", "VAR-9", "clip or not")\n'
        "PARAMETERS = {}\n"
        'EXACT = BOUND = NUMPY = {"off": lambda *a: None, "on": lambda *a: None}\n')
    out = _import_in(where, "import adamspec.reference")
    assert out.returncode != 0, out.stdout
    last = out.stderr.strip().splitlines()[-1]
    # found by listing the package (it is in hyper.KNOBS), and refused by the first module that
    # computes a step: reference/__init__ imports exact, which imports steps
    assert last.startswith("ImportError: adamspec.reference.steps does not handle the variant knobs"), last
    assert last.endswith("knob grad_clip (VAR-9) is not handled at all"), last
