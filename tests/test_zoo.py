"""The mutant zoo (adamspec.selftest.zoo) against the conformance suite.

* every mutant names SPEC clauses that exist, a bug class and a source;
* every mutant's witness shows it differs from the correct control (so none is a correct
  implementation in disguise), and the controls do not differ from themselves;
* the controls conform under the ``ci`` profile;
* the kill test: under ``ci`` some property checking one of the mutant's expected clauses
  fails (or, for a mutant that crashes by design, errors). A mutant whose expected clauses no
  registered property checks yet is a strict xfail computed from the live registry, so it turns
  into an ordinary test by itself when such a property lands; a mutant that a property for its
  clauses already exists for but does not catch is listed in ``SURVIVORS`` with the reason —
  each entry is a finding about the suite, and a strict xfail, so that fixing the suite shows up
  as an unexpected pass that asks for the entry to be removed.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is an optional extra: pip install 'adamspec[torch]'")

from adamspec import spec  # noqa: E402
from adamspec.conformance.registry import load  # noqa: E402
from adamspec.selftest import zoo  # noqa: E402

PROPERTIES = load()
from adamspec.conformance.runner import run  # noqa: E402

CLAUSE_IDS = {c.id for c in spec.clauses()}
MODES = ("adam", "adam_l2", "adamw")
# The two mutants whose whole bug is the claim: their class computes the other family's step.
WRONG_FAMILY = {"coupled_l2_as_adamw", "decoupled_as_adam_l2"}

# Mutants that survive ``ci`` although a registered property checks one of their expected
# clauses — findings about the suite, with the reason as far as we can tell.
SURVIVORS: dict[str, str] = {
    # Both earlier survivors were fixed in the suite: non_finite now draws AMSGrad cases with a
    # NaN in v (amsgrad_max_drops_nan), and no_gradient, whose second parameter skips steps,
    # now files its step-count check under STATE-2 (shared_step_counter).
}


def _covering(m) -> list[str]:
    return [p.name for p in PROPERTIES.values() if set(p.clauses) & set(m.expected_clauses)]


def _kill_param(m):
    marks = []
    if not _covering(m):
        marks.append(pytest.mark.xfail(
            strict=True, reason=f"property for {', '.join(m.expected_clauses)} not built yet"))
    elif m.name in SURVIVORS:
        marks.append(pytest.mark.xfail(strict=True, reason=f"finding: {SURVIVORS[m.name]}"))
    return pytest.param(m, id=m.name, marks=marks)


def test_zoo_is_large_enough_and_names_are_unique():
    assert len(zoo.MUTANTS) >= 30
    names = [m.name for m in zoo.MUTANTS + zoo.CONTROLS]
    assert len(names) == len(set(names))
    assert {c.claim for c in zoo.CONTROLS} == set(MODES)


@pytest.mark.parametrize("m", zoo.MUTANTS, ids=lambda m: m.name)
def test_mutant_is_documented(m):
    assert m.claim in MODES
    assert m.expected_clauses, "a mutant must name the clauses that reject it"
    unknown = set(m.expected_clauses) - CLAUSE_IDS
    assert not unknown, f"clauses not in SPEC.md: {sorted(unknown)}"
    assert m.bug.strip() and m.source.strip()
    assert m.witness, "a mutant needs a witness"
    # Every mutant differs from the control of its claim in one place only: its base class
    # computes the claimed family's step, except where the family is the bug.
    assert issubclass(m.cls, zoo.ReferenceAdam)
    assert m.cls.decoupled == (m.claim == "adamw") or m.name in WRONG_FAMILY


@pytest.mark.parametrize("m", zoo.MUTANTS, ids=lambda m: m.name)
def test_witness_shows_the_mutant_is_wrong(m):
    assert zoo.witness_differs(m), f"margin {zoo.witness_margin(m)!r} on the witness"


@pytest.mark.parametrize("c", zoo.CONTROLS, ids=lambda c: c.name)
def test_controls_do_not_differ_from_themselves(c):
    assert c.cls is zoo.control_for(c.claim)
    assert not zoo.witness_differs(c)
    assert zoo.witness_margin(c) == 0.0


@pytest.mark.parametrize("c", zoo.CONTROLS, ids=lambda c: c.name)
def test_control_conforms(c):
    result = run(zoo.adapter(c), "ci")
    bad = [(v.property, v.verdict, v.reason or (v.counterexample.message if v.counterexample else ""))
           for v in result.verdicts if v.verdict in ("fail", "error")]
    assert result.verdict == "conformant", bad


@pytest.mark.parametrize("m", [_kill_param(m) for m in zoo.MUTANTS])
def test_suite_kills_mutant(m):
    # Only properties that check an expected clause can kill; run just those, stop at the first.
    result = run(zoo.adapter(m), "ci", clauses=m.expected_clauses, max_failures=1)
    wanted = {"fail", "error"} if m.crashes else {"fail"}
    killers = [v.property for v in result.verdicts
               if v.verdict in wanted and set(v.clauses) & set(m.expected_clauses)]
    seen = {v.property: v.verdict for v in result.verdicts}
    assert killers, f"{m.name} survived; verdicts of the covering properties: {seen}"
