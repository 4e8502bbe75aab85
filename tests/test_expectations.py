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
