"""A declared state dtype (SPEC DT-1, DT-3), a flag the record says is missing (VAL-6), and a
parameter whose storage and strides must survive the step (MUT-2), each seen passing on a correct
optimizer and failing on one wrong in exactly that place (tests/fixtures/float32_state.py)."""

import functools
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("torch", reason="torch is an optional extra: pip install 'adamspec[torch]'")

from float32_state import Float32StateAdamW  # noqa: E402

import adamspec  # noqa: E402
from adamspec.adapters.torch_optim import TorchClassAdapter  # noqa: E402
from adamspec.conformance.must_reject import must_reject_for  # noqa: E402
from adamspec.reference.bound import Arithmetic, step_bound  # noqa: E402
from adamspec.reference.hyper import Hyper  # noqa: E402

_DTYPES = ("float32", "bfloat16")


def _adapter(declare_state=True, amsgrad=False, **switches):
    adapter = TorchClassAdapter(functools.partial(Float32StateAdamW, **switches), "adamw", "fixture.f32state")
    adapter.capabilities = replace(
        adapter.capabilities, dtypes=frozenset(_DTYPES), compute={d: "float32" for d in _DTYPES},
        state_dtype={"bfloat16": "float32"} if declare_state else {}, maximize=False, amsgrad=amsgrad)
    return adapter


def _failed(result) -> set[str]:
    return {f.clause for v in result.verdicts for f in v.failures}


def test_declared_float32_state_conforms_and_the_undeclared_record_fails_dt1():
    assert adamspec.check(_adapter(), clauses=["AD-1", "DT-1"]).verdict == "conformant"
    assert _failed(adamspec.check(_adapter(declare_state=False), clauses=["DT-1"])) == {"DT-1"}


def test_state_judged_at_its_declared_dtype_not_the_parameters():
    """m rounded to bfloat16 but kept in a float32 tensor: DT-1 holds, and AD-2 fails, because the
    declared float32 state is judged against a float32 storage rounding."""
    r = adamspec.check(_adapter(round_m_to_param=True), clauses=["AD-1", "DT-1"])
    assert "AD-2" in _failed(r) and "DT-1" not in _failed(r)


def test_the_bound_rounds_the_state_to_the_state_dtype():
    rng = np.random.default_rng(3)
    th, g, m, v = (rng.standard_normal(64) for _ in range(4))
    v = v * v
    h = Hyper(lr=1e-3, weight_decay=0.1, mode="adamw")
    exact = {"theta": th, "m": m, "v": v}  # only the final storage rounding reads these
    arith = Arithmetic(compute="float32")
    coarse = step_bound(th, g, m, v, 3, h, arith, "bfloat16", exact)
    fine = step_bound(th, g, m, v, 3, h, arith, "bfloat16", exact, state_storage="float32")
    assert np.array_equal(coarse.theta, fine.theta)
    assert (fine.m < coarse.m / 100).all() and (fine.v < coarse.v / 100).all()


def test_an_accepted_and_ignored_amsgrad_fails_val6_a_refused_one_passes():
    assert {"amsgrad=True", "maximize=True"} <= {r.name for r in must_reject_for(_adapter().capabilities)}
    assert "amsgrad=True" not in {r.name for r in must_reject_for(_adapter(amsgrad=True).capabilities)}
    accepted = adamspec.check(_adapter(), clauses=["VAL-6"])
    assert any(f.clause == "VAL-6" and "amsgrad=True" in f.message for v in accepted.verdicts for f in v.failures)
    refused = adamspec.check(_adapter(refuse_amsgrad=True), clauses=["VAL-6"])
    assert not any("amsgrad" in f.message for v in refused.verdicts for f in v.failures)


def test_a_contiguous_copy_of_a_strided_parameter_fails_mut2():
    # (resume, which checks MUT-2 too, fails STATE-6 here: torch's load_state_dict casts the
    # float32 moments to the parameter's bfloat16, so a fixture that does not opt out loses bits)
    assert "MUT-2" not in _failed(adamspec.check(_adapter(), clauses=["MUT-2"]))
    r = adamspec.check(_adapter(contiguous_copy=True), clauses=["MUT-2"])
    assert "MUT-2" in _failed(r)
    assert all("contiguous" not in f.message for v in r.verdicts for f in v.failures)
