"""Known deviations excuse exactly themselves: the failure they name, never a property's other
clauses, never the rest of the search (SPEC API-6; conformance/deviations.py).

Each kind of entry (clause-keyed, property-keyed, input-keyed) meets an optimizer with two
independent defects, one excused: the other is reported with its own counterexample and the
verdict is non-conformant, through the CLI, ``adamspec.check`` and the pytest plugin alike.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import adamspec
from adamspec.conformance import deviations as dev
from adamspec.conformance.results import Counterexample, PropertyVerdict

FIXTURES = Path(__file__).with_name("fixtures")
sys.path.insert(0, str(FIXTURES))
import two_defects as T  # noqa: E402

# (factory, the entry excusing its first defect, clauses to run, refuted clause expected,
#  what the excused counterexample must show)
KINDS = {
    "clause-keyed": ("lax_validation", T.VALIDATION_ENTRY, ["VAL-1"], "VAL-3", {"row": "lr=inf"}),
    "property-keyed": ("nan_dropping", T.NON_FINITE_ENTRY, ["NF-1"], "NF-1", {"clause": "AMS-1"}),
    "input-keyed": ("lost_updates", T.ZERO_DIM_ENTRY, ["AD-11"], "AD-2", {"zero_dim": True}),
    # the second defect is on the very inputs the entry names: only its model tells them apart
    "model-keyed": ("lost_and_doubled", T.MODEL_ENTRY, ["AD-2"], "AD-1", {"zero_dim": True}),
}


def _entry_file(tmp_path, text) -> str:
    path = tmp_path / "deviations.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(FIXTURES), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture
def plugin_run(pytester, monkeypatch):
    """``pytest --pyargs adamspec.conformance ...`` in a fresh process, as a user runs it."""
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])

    def run(*args):
        return pytester.runpytest_subprocess("--pyargs", "adamspec.conformance", "-p", "no:cacheprovider", *args)

    return run


# -- matching ------------------------------------------------------------------------------------


def _cx(clause="AD-1", storage="float32", zero_dim=False, row="", layout="contiguous"):
    return Counterexample(clause, "", "a", "m", {}, storage, 1, row=row, zero_dim=zero_dim, layout=layout)


@pytest.mark.parametrize("cx, expected", [
    (_cx("AMS-1"), True),
    (_cx("NF-1"), False),  # another clause of the same property is not excused
    (_cx("AMS-1", storage="float64"), True),
])
def test_a_property_keyed_entry_matches_its_clause_only(cx, expected):
    (d,) = dev.parse(T.NON_FINITE_ENTRY)
    assert d.covers("two.x", "non_finite", cx) is expected
    assert not d.covers("two.x", "agreement_one_step", _cx("AMS-1"))  # nor the clause elsewhere
    assert not d.covers("other.x", "non_finite", _cx("AMS-1"))


@pytest.mark.parametrize("cx, expected", [
    (_cx("AD-2", "float64", zero_dim=True), True),
    (_cx("AD-2", "float32", zero_dim=True), False),
    (_cx("AD-2", "float64", zero_dim=False), False),
])
def test_an_input_keyed_entry_matches_those_inputs_only(cx, expected):
    (d,) = dev.parse(T.ZERO_DIM_ENTRY)
    assert d.covers("two.x", "lr_zero", cx) is expected


def test_a_row_keyed_entry_excuses_its_row_only():
    (d,) = dev.parse('[[deviation]]\nclause = "VAL-1"\nrow = "lr=inf"\nreason = "r"\n')
    assert d.covers("x", "validation", _cx("VAL-1", row="lr=inf"))
    assert not d.covers("x", "validation", _cx("VAL-1", row="lr=nan"))


@pytest.mark.parametrize("layout, other", [("strided", "transposed"), ("transposed", "strided")])
def test_each_builtin_layout_entry_needs_its_layout(layout, other):
    (d,) = [d for d in dev.builtin() if d.layout == layout and d.adapter == "torch.*.fused"]
    assert d.covers("torch.adamw.fused", "shapes_layouts", _cx("AD-1", layout=layout))
    assert d.covers("torch.adam.fused", "shapes_layouts", _cx("AD-2", layout=layout))  # L2 reads θ
    assert not d.covers("torch.adamw.fused", "shapes_layouts", _cx("AD-1", layout=other))
    assert not d.covers("torch.adamw.fused", "shapes_layouts", _cx("AD-1", layout="contiguous"))
    assert not d.covers("torch.adamw.fused", "agreement_one_step", _cx("AD-1", layout=layout))
    assert not d.covers("torch.adamw.foreach", "shapes_layouts", _cx("AD-1", layout=layout))


@pytest.mark.parametrize("text, match", [
    ('[[deviation]]\nadapter = "x"\n', "lacks"),
    ("[[deviation\n", "TOML"),
    ('[[deviation]]\nadapter = "x"\nclause = "*"\nreason = "all of it"\n', "needs a condition"),
    ('[[deviation]]\nclause = "AD-1"\nreason = "r"\nzero_dims = true\n', "unknown key"),
    ('[[deviation]]\nclause = "XX-9"\nreason = "r"\n', "no clause XX-9"),
])
def test_malformed_entries_are_rejected(text, match):
    with pytest.raises(ValueError, match=match):
        dev.parse(text)


def test_stale_needs_a_property_that_checks_the_clause_to_pass():
    (d,) = dev.parse(T.STALE_ENTRY)
    passed = PropertyVerdict("uniform_decay", "AW-3", ("AW-3",), "t", verdict="pass")
    failed = PropertyVerdict("uniform_decay", "AW-3", ("AW-3",), "t", verdict="fail")
    other = PropertyVerdict("first_step", "AD-7", ("AD-7",), "t", verdict="pass")
    assert len(dev.stale([d], "numpy.adamw", [passed])) == 1
    assert dev.stale([d], "numpy.adamw", [failed, other]) == []  # a failed search cannot vouch
    assert dev.stale([d], "torch.adamw.fused", [passed]) == []  # another adapter


def test_an_input_keyed_entry_is_stale_only_where_its_input_was_checked():
    """A property that never held a 0-d float64 parameter (a run restricted to float32, or to a
    clause whose strategy draws none) cannot vouch for that entry's absence."""
    (d,) = dev.parse(T.ZERO_DIM_ENTRY)
    from adamspec.conformance.results import InputKind

    def passed(*kinds):
        return PropertyVerdict("agreement_one_step", "AD-1", ("AD-1",), "t", inputs=set(kinds))

    f32, f64_0d = InputKind("float32", True, "contiguous", False), InputKind("float64", True, "contiguous", False)
    f64_1d = InputKind("float64", False, "contiguous", False)
    assert dev.stale([d], "two.defects", [passed(f32, f64_1d)]) == []
    assert len(dev.stale([d], "two.defects", [passed(f32, f64_0d)])) == 1


STORAGE_ENTRY = '[[deviation]]\nadapter = "numpy.*"\nclause = "*"\nstorage = "bfloat16"\nreason = "never"\n'


@pytest.mark.parametrize("dtypes, stale", [(["float32"], False), (["bfloat16"], True)])
def test_a_storage_entry_under_a_dtype_selection(tmp_path, dtypes, stale):
    """Through the CLI: the entry is stale when bfloat16 was run and nothing failed, and says
    nothing (no warning) when the run never drew bfloat16."""
    proc = subprocess.run([sys.executable, "-m", "adamspec", "run", "--adapter", "numpy.adamw", "--clause", "AW-3",
                           "--dtypes", *dtypes, "--deviations", _entry_file(tmp_path, STORAGE_ENTRY), "-q"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert ("excused nothing" in proc.stderr) == stale, proc.stderr[-2000:]


# -- the three entry kinds against two defects, through the three front ends -----------------


@pytest.mark.parametrize("kind", KINDS)
def test_check_reports_the_unexcused_defect_beside_the_excused_one(kind, tmp_path):
    factory, entry, clauses, refuted, shown = KINDS[kind]
    r = adamspec.check(getattr(T, factory)(), clauses=clauses, deviations=[_entry_file(tmp_path, entry)])
    assert r.verdict == "non-conformant"
    failing = [v for v in r.verdicts if v.verdict == "fail"]
    assert failing and all(v.failures for v in failing)
    assert refuted in {c.clause for v in failing for c in v.failures}
    # the excused defect is shown too, with a counterexample of its own
    excused = [x for v in r.verdicts for x in v.excused]
    assert excused
    for key, value in shown.items():
        assert all(getattr(x.counterexample, key) == value for x in excused)
    # ... and the unexcused failure's counterexample is not the excused one's
    for v in failing:
        for cx in v.failures:
            d = dev.parse(entry)[0]
            if d.model:  # same inputs as the excused defect: the model, checked on the run, tells
                assert d.covers(r.adapter, v.property, cx) and cx.zero_dim  # them apart
            else:
                assert not d.covers(r.adapter, v.property, cx)
            assert cx.replay and cx.case_json


def test_without_its_model_an_input_keyed_entry_would_hide_a_second_bug_on_those_inputs():
    """Why entries for a lost update carry a model: keyed by inputs alone, the doubled step on
    the same 0-d float64 parameters is excused with it."""
    r = adamspec.check(T.lost_and_doubled(), clauses=["AD-2"], deviations=dev.parse(T.ZERO_DIM_ENTRY))
    assert r.verdict == "conformant"
    r = adamspec.check(T.lost_and_doubled(), clauses=["AD-2"], deviations=dev.parse(T.MODEL_ENTRY))
    assert r.verdict == "non-conformant"


def test_the_excused_defect_alone_conforms():
    r = adamspec.check(T.nan_dropping_amsgrad_only(), clauses=["NF-1"],
                       deviations=dev.parse(T.NON_FINITE_ENTRY))
    assert r.verdict == "conformant" and r.warnings == []
    (v,) = r.verdicts
    assert v.verdict == "pass" and [x.label for x in v.excused] == ["AMS-1"]


def test_every_must_reject_row_is_checked_on_its_own(tmp_path):
    """A table is enumerated: 15 rows, each judged; excusing one row says nothing of another."""
    r = adamspec.check(T.lax_validation(), clauses=["VAL-1"], deviations=dev.parse(
        '[[deviation]]\nadapter = "two.*"\nclause = "VAL-1"\nrow = "lr=inf"\nreason = "r"\n'))
    (v,) = r.verdicts
    assert v.examples == 15
    assert [c.row for c in v.failures] == ["beta2=1.0"] and [x.counterexample.row for x in v.excused] == ["lr=inf"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_cli_exits_1_and_shows_both(kind, tmp_path):
    factory, entry, clauses, refuted, _ = KINDS[kind]
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "adamspec", "run", "--adapter", f"two_defects:{factory}",
                           "--clause", *clauses, "--deviations", _entry_file(tmp_path, entry),
                           "--format", "json", "-o", str(out), "-q"],
                          capture_output=True, text=True, env=_env(), timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["verdict"] == "non-conformant"
    assert refuted in {r for p in doc["properties"] for r in p["refuted"]}
    assert any(p["excused"] for p in doc["properties"])


@pytest.mark.parametrize("kind", KINDS)
def test_the_pytest_plugin_fails_and_shows_both(kind, tmp_path, plugin_run):
    factory, entry, clauses, refuted, _ = KINDS[kind]
    names = {"clause-keyed": "test_validation", "property-keyed": "test_non_finite", "input-keyed": "test_lr_zero",
             "model-keyed": "test_agreement_one_step"}
    result = plugin_run("--adapter", f"two_defects:{factory}", "--adamspec-deviations", _entry_file(tmp_path, entry),
                        "-k", names[kind])
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert refuted in text and "known deviation" in text


# -- stale entries: one rule in all three -------------------------------------------------------


def test_a_stale_entry_is_reported_by_check(tmp_path):
    with pytest.warns(UserWarning, match="excused nothing"):
        r = adamspec.check("numpy.adamw", clauses=["AW-3"], deviations=[_entry_file(tmp_path, T.STALE_ENTRY)])
    assert r.verdict == "conformant" and any("ours, fixed long ago" in w for w in r.warnings)


def test_a_stale_entry_is_reported_by_the_cli_in_every_format(tmp_path):
    path = _entry_file(tmp_path, T.STALE_ENTRY)
    for fmt in ("terminal", "json", "junit", "markdown"):
        proc = subprocess.run([sys.executable, "-m", "adamspec", "run", "--adapter", "numpy.adamw", "--clause",
                               "AW-3", "--deviations", path, "--format", fmt, "-q"],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "ours, fixed long ago" in proc.stdout, fmt
        assert "excused nothing" in proc.stderr


def test_a_stale_entry_is_reported_by_the_plugin(tmp_path, plugin_run):
    result = plugin_run("--adapter", "numpy.adamw", "--adamspec-deviations", _entry_file(tmp_path, T.STALE_ENTRY),
                        "-k", "test_uniform_decay")
    result.assert_outcomes(passed=1)
    assert "excused nothing" in result.stdout.str() and "ours, fixed long ago" in result.stdout.str()


def test_an_entry_for_a_deselected_property_is_not_stale(tmp_path, plugin_run):
    result = plugin_run("--adapter", "numpy.adamw", "--adamspec-deviations", _entry_file(tmp_path, T.STALE_ENTRY),
                        "-k", "test_first_step")
    result.assert_outcomes(passed=1)
    assert "excused nothing" not in result.stdout.str()


def test_a_library_call_writes_no_replay_files_and_the_cli_writes_them_where_asked(tmp_path, monkeypatch):
    """A case too large for a token (the fused strided deviation: 65,537 elements) is written
    only into the CLI's --replay-dir, never by adamspec.check."""
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    r = adamspec.check("torch.adamw.fused", clauses=["STATE-4"])
    excused = [x for v in r.verdicts for x in v.excused]
    assert {x.label for x in excused} == {"strided parameters (dense run)",
                                                "transposed parameters (memory order)"}
    for x in excused:  # both found in the explicit case, which holds every layout
        assert "too large for a token" in x.counterexample.replay and x.counterexample.case_json
    assert list(tmp_path.iterdir()) == []
    out = tmp_path / "cases"
    proc = subprocess.run([sys.executable, "-m", "adamspec", "run", "--adapter", "torch.adamw.fused", "--clause",
                           "STATE-4", "--replay-dir", str(out), "--format", "json", "-q"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    written = list(out.iterdir())
    assert written and all(f"adamspec replay {w}" in proc.stdout for w in written)


def test_an_lr_zero_entry_excuses_only_steps_taken_at_lr_0():
    (d,) = dev.parse('[[deviation]]\nclause = "GRP-4"\nproperty = "schedules"\nlr_zero = true\nreason = "r"\n')
    at = lambda lr: Counterexample("GRP-4", "", "a", "m", {"lr": lr}, "float32", 1)  # noqa: E731
    assert d.covers("x", "schedules", at(0.0)) and d.label() == "GRP-4 lr = 0"
    assert not d.covers("x", "schedules", at(1e-3))
    assert not d.covers("x", "resume", at(0.0))
    (star,) = dev.parse('[[deviation]]\nclause = "*"\nlr_zero = true\nreason = "r"\n')  # a condition enough for "*"
    assert star.covers("x", "anything", at(0.0)) and not star.covers("x", "anything", at(0.5))


def test_a_scheduled_failure_reports_the_hyperparameters_of_its_step():
    """The counterexample of a failure at step k shows the lr in force at step k (GRP-4), not the
    first step's: what an lr_zero entry and a reader need."""
    from dataclasses import replace as _replace

    import numpy as np

    from adamspec.conformance.cases import Case, GroupCase, ParamCase
    from adamspec.conformance.registry import Violation, load
    from adamspec.conformance.runner import _counterexample
    from adamspec.reference.hyper import Hyper

    h = Hyper(lr=0.0, mode="adamw")
    case = Case((GroupCase(h, (ParamCase(np.zeros(2)),)),), ((np.ones(2),), (np.ones(2),)),
                schedule=((h,), (_replace(h, lr=0.25),)))
    v = Violation("m", case, 0, 2, clause="GRP-4", index=1)
    assert _counterexample(load()["schedules"], "x", v, replayable=False).hyper["lr"] == 0.25
    v0 = Violation("m", case, 0, 1, clause="GRP-4", index=0)
    assert _counterexample(load()["schedules"], "x", v0, replayable=False).hyper["lr"] == 0.0
