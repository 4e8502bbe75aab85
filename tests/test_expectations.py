"""Expectation entries: a covered failure is expected, a user's stale entry warns, built-ins never do."""

import pytest

from adamspec.conformance import expectations as exp
from adamspec.conformance.results import PropertyVerdict, RunResult


def _result(verdict: str, prop: str = "non_finite", clauses=("NF-1", "AMS-1")) -> RunResult:
    r = RunResult("torch.adam.fused", {}, "ci", 0, {})
    r.verdicts.append(PropertyVerdict(prop, clauses[0], tuple(clauses), "t", verdict=verdict))
    r.verdicts.append(PropertyVerdict("agreement_one_step", "AD-1", ("AD-1", "AMS-1"), "t", verdict="pass"))
    return r


def test_a_covered_failure_is_expected_and_the_run_conformant():
    r = _result("fail")
    warnings = exp.apply(r, exp.builtin())
    assert r.verdicts[0].expected_failure.startswith("AMS-1") and r.verdict == "conformant" and not warnings


def test_the_property_field_keeps_an_entry_narrow():
    r = RunResult("torch.adam.fused", {}, "ci", 0, {})
    r.verdicts.append(PropertyVerdict("agreement_one_step", "AD-1", ("AD-1", "AMS-1"), "t", verdict="fail"))
    exp.apply(r, exp.builtin())
    assert not r.verdicts[0].expected_failure and r.verdict == "non-conformant"


def test_a_users_stale_entry_warns_and_builtins_do_not():
    user = exp.parse('[[deviation]]\nadapter = "torch.*"\nclause = "AMS-1"\nreason = "ours"\n')
    warnings = exp.apply(_result("pass"), exp.builtin() + user)
    assert len(warnings) == 1 and "ours" in warnings[0]


def test_malformed_files_are_rejected():
    with pytest.raises(ValueError, match="lacks"):
        exp.parse('[[deviation]]\nadapter = "x"\n')
    with pytest.raises(ValueError, match="TOML"):
        exp.parse("[[deviation\n")


def _failing(adapter, storage, index):
    from adamspec.conformance.results import Counterexample, Element

    el = Element("theta", index, 0, {}, 1e-4, "1e-4", 1e-10, 0.0, 1.0, 1e6)
    ce = Counterexample("AD-1", "", adapter, "differs", {}, storage, 1, (el,))
    r = RunResult(adapter, {}, "ci", 0, {})
    r.verdicts.append(PropertyVerdict("agreement_one_step", "AD-1", ("AD-1",), "t", verdict="fail",
                                      counterexample=ce))
    return r


@pytest.mark.parametrize("adapter, storage, index, expected", [
    ("torch.adamw.compiled", "float64", (), True),       # the known torch.compile deviation
    ("torch.adamw.compiled", "float32", (), False),      # another dtype: a real failure
    ("torch.adamw.compiled", "float64", (0,), False),    # a 1-d parameter: a real failure
    ("torch.adamw.fused", "float64", (), False),         # another adapter: a real failure
])
def test_an_entry_keyed_by_inputs_covers_only_those_inputs(adapter, storage, index, expected):
    r = _failing(adapter, storage, index)
    exp.apply(r, exp.builtin())
    assert bool(r.verdicts[0].expected_failure) is expected
    if expected:
        assert r.verdicts[0].expected_failure.startswith("0-d float64 parameters:")


def test_a_wildcard_clause_needs_a_condition():
    with pytest.raises(ValueError, match="needs a condition"):
        exp.parse('[[deviation]]\nadapter = "x"\nclause = "*"\nreason = "all of it"\n')
