"""The kernel author's path: a C++ fused Adam/AdamW kernel passes; built with a bug, it fails
with a counterexample naming the clause (examples/cpp_adamw)."""

import shutil

import pytest

import adamspec

pytest.importorskip("torch", reason="the C++ example builds against torch")
if shutil.which("g++") is None and shutil.which("c++") is None:
    pytest.skip("no C++ compiler on this machine: the example kernel cannot be built", allow_module_level=True)
pytest.importorskip("ninja", reason="torch.utils.cpp_extension needs ninja: pip install ninja")

from examples.cpp_adamw.adapter import make, make_buggy  # noqa: E402

CLAUSES = ["AD-1", "AW-3", "AD-7", "L2-3", "NOGRAD-1", "STATE-4", "GRP-4", "STATE-6"]


# ~90 s: a full check at ci; CI keeps the buggy build (the path from kernel to counterexample)
@pytest.mark.slow
def test_the_correct_kernel_conforms():
    result = adamspec.check(make(), clauses=CLAUSES)
    assert result.verdict == "conformant", [(v.clause, v.verdict, v.reason) for v in result.verdicts]
    ran = {v.property: v.verdict for v in result.verdicts}
    assert ran["schedules"] == ran["resume"] == "pass"  # the example's set_hypers and resume hooks


def test_the_kernel_built_with_eps_inside_the_root_fails_naming_the_clause():
    result = adamspec.check(make_buggy(), clauses=CLAUSES)
    assert result.verdict == "non-conformant"
    failed = [v for v in result.verdicts if v.verdict == "fail"]
    assert any("AD-5" in v.clauses for v in failed)  # u = m̂/(√v̂ + ε)
    cx = failed[0].counterexample
    assert cx.elements and cx.replay.startswith("adamspec replay ")
