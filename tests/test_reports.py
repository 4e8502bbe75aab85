"""The report renderers (JSON, JUnit, Markdown, terminal, text) on hand-built run results."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET

import jsonschema
import numpy as np
import pytest
from ml_dtypes import bfloat16
from rich.console import Console

from adamspec.conformance import report_json, report_junit, report_markdown, report_terminal, report_text
from adamspec.conformance.results import Counterexample, Element, Excused, PropertyVerdict, RunResult
from adamspec.spec import clause

REPLAY = "adamspec replay --adapter torch.adamw.fused --case 'AW-3/7f3a'"
ENV = {"python": "3.11.9", "numpy": "2.1.0", "torch": "2.13.0", "device": "cpu", "adamspec": "0.1.0",
       "spec": "2026.12"}


def bf16(x: float) -> float:
    return float(np.float64(np.asarray(x).astype(bfloat16)))


def counterexample() -> Counterexample:
    nan_elem = Element(
        output="theta", index=(3, 1), param=0,
        inputs={"theta": bf16(0.5), "g": 0.0, "m": bf16(0.1), "v": bf16(1e-4)},
        expected=0.4990234375, expected_digits="0.499023437500000000000000000000",
        bound=0.001953125, got=math.nan, ulps=math.inf, fraction=math.inf,
    )
    inf_elem = Element(
        output="v", index=(0, 0), param=1,
        inputs={"theta": bf16(-3.0), "g": bf16(1e30), "m": 0.0, "v": math.inf},
        expected=math.inf, expected_digits="+inf", bound=0.0, got=-math.inf, ulps=math.inf,
        fraction=math.inf,
    )
    return Counterexample(
        clause="AW-3", requirement=clause("AW-3").requirement, adapter="torch.adamw.fused",
        message="θ at g = 0 is not θ·(1 − lr·λ) within the bound.",
        hyper={"lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.1,
               "mode": "adamw", "amsgrad": False},
        storage="bfloat16", step=1001, elements=(nan_elem, inf_elem),
        case_json='{"groups": []}', replay=REPLAY,
    )


def verdict(prop, cl, **kw) -> PropertyVerdict:
    return PropertyVerdict(property=prop, clause=cl, clauses=(cl,), title=clause(cl).title, **kw)


def passing() -> list[PropertyVerdict]:
    return [
        verdict("test_first_moment", "AD-2", examples=200, max_ulp=0.5, max_bound_fraction=0.43,
                seconds=1.25),
        verdict("test_second_moment", "AD-3", examples=200, max_ulp=1.0, max_bound_fraction=0.07,
                seconds=2.5),
    ]


def run(verdicts) -> RunResult:
    return RunResult(adapter="torch.adamw.fused", capabilities={"name": "torch.adamw.fused",
                                                                "dtypes": ["bfloat16", "float32"],
                                                                "compute": {"bfloat16": "float32"},
                                                                "max_step": None},
                     profile="ci", seed=1234, environment=dict(ENV), verdicts=verdicts)


@pytest.fixture
def pass_run() -> RunResult:
    return run(passing())


@pytest.fixture
def fail_run() -> RunResult:
    failing = verdict("test_uniform_decay", "AW-3", verdict="fail", examples=17, max_ulp=math.inf,
                      max_bound_fraction=math.inf, seconds=0.75, failures=[counterexample()])
    return run([*passing(), failing])


@pytest.fixture
def mixed_run() -> RunResult:
    na = verdict("test_amsgrad_max", "AMS-1", verdict="not-applicable",
                 reason="adapter declares amsgrad=False")
    err = verdict("test_state_injection", "STATE-3", verdict="error", reason="RuntimeError: boom\ntraceback")
    failing = verdict("test_uniform_decay", "AW-3", verdict="fail", examples=17, max_ulp=3.0,
                      max_bound_fraction=1.5, failures=[counterexample()])
    return run([*passing(), na, err, failing])


# -- text -------------------------------------------------------------------------------------


def test_counterexample_text_has_clause_inputs_hex_bits_and_replay():
    text = report_text.counterexample_text(counterexample())
    assert text.splitlines()[0].startswith("AW-3 — ")
    assert clause("AW-3").requirement.split()[0] in text
    assert "torch.adamw.fused" in text and "bfloat16" in text and "t = 1001" in text
    assert "lr=0.1" in text and "eps=1e-08" in text
    assert "theta[3, 1]" in text and "v[0, 0]" in text
    assert "0x1p-1" in text  # θ = 0.5 as C99 hex
    assert "0x3f00" in text  # ... and as bfloat16 bits
    assert "0x7f80" in text  # v = +inf as bfloat16 bits
    assert "nan" in text and "-inf" in text
    assert "0.499023437500000000000000000000" in text
    assert text.rstrip().endswith(f"replay: {REPLAY}")


def test_counterexample_table_is_aligned():
    lines = report_text.counterexample_text(counterexample()).splitlines()
    header = next(ln for ln in lines if "C99 hex" in ln)
    rows = [ln for ln in lines if ln.startswith("    ") and not ln.lstrip().startswith("error")]
    assert len(rows) == 15  # the header and 2 elements × (4 inputs, expected, bound, got)
    columns = {header.index("C99 hex")}
    for ln in rows[1:]:
        starts = [m.start() for m in re.finditer(r"(?<=  )\S", ln)]  # fields are two spaces apart
        columns.add(starts[2] + 1 if ln[starts[2]] in "+-" else starts[2])  # label, value, hex
    assert len(columns) == 1


@pytest.mark.parametrize("x,storage,bits", [
    (1.0, "bfloat16", "0x3f80"), (1.0, "float32", "0x3f800000"), (1.0, "float16", "0x3c00"),
    (-math.inf, "bf16", "0xff80"), (1.0, "float64", None), (0.1, "bfloat16", None),
])
def test_storage_bits(x, storage, bits):
    assert report_text.storage_bits(x, storage) == bits


def test_number_formats():
    assert report_text.fmt_fraction(0.4321) == "0.43"
    assert report_text.fmt_fraction(None) == "-"
    assert report_text.fmt_ulps(math.inf) == "inf"
    assert report_text.hex_short(0.5) == "0x1p-1" and report_text.hex_short(-0.0) == "-0x0p+0"
    assert float.fromhex(report_text.hex_short(0.1)) == 0.1


# -- JSON -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["pass_run", "fail_run", "mixed_run"])
def test_json_validates_against_schema(fixture, request):
    result = request.getfixturevalue(fixture)
    doc = json.loads(report_json.to_json(result))
    jsonschema.Draft202012Validator.check_schema(report_json.schema())
    jsonschema.Draft202012Validator(report_json.schema()).validate(doc)
    assert doc["schema"] == "adamspec-report/2"
    assert doc["verdict"] == result.verdict
    assert doc["counts"] == result.counts()
    assert doc["profile"] == "ci" and doc["seed"] == 1234
    assert doc["environment"]["torch"] == "2.13.0" and doc["environment"]["seed"] == 1234
    assert [c["id"] for c in doc["properties"]] == [v.clause for v in result.verdicts]


def test_json_text_is_strict_json(fail_run):
    text = report_json.to_json(fail_run)
    for bad in ("NaN", "Infinity"):
        assert bad not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard constant {c}"))


def test_json_failure_carries_counterexample_with_hex(fail_run):
    doc = report_json.to_dict(fail_run)
    assert doc["verdict"] == "non-conformant"
    failed = [c for c in doc["properties"] if c["verdict"] == "fail"]
    assert len(failed) == 1
    c = failed[0]
    assert c["replay"] == REPLAY and c["max_ulp"] == "inf"
    cx = c["counterexample"]
    assert cx["storage"] == "bfloat16" and cx["step"] == 1001 and cx["case_json"]
    nan_elem, inf_elem = cx["elements"]
    assert nan_elem["got"] == "nan" and nan_elem["got_hex"] == "nan" and nan_elem["index"] == [3, 1]
    assert nan_elem["inputs_hex"]["theta"] == float.hex(0.5) and nan_elem["inputs_bits"]["theta"] == "0x3f00"
    assert nan_elem["expected_hex"] == float.hex(0.4990234375)
    assert inf_elem["got"] == "-inf" and inf_elem["got_hex"] == "-inf" and inf_elem["got_bits"] == "0xff80"
    assert inf_elem["inputs"]["v"] == "inf" and inf_elem["expected"] == "inf"
    for e in cx["elements"]:
        for key in ("got", "expected", "bound"):
            assert (float(e[key]) == float.fromhex(e[f"{key}_hex"])
                    or math.isnan(float(e[key])) and math.isnan(float.fromhex(e[f"{key}_hex"])))


def test_json_mixed_verdicts(mixed_run):
    doc = report_json.to_dict(mixed_run)
    assert doc["verdict"] == "error"
    by_id = {c["id"]: c for c in doc["properties"]}
    assert by_id["AMS-1"]["verdict"] == "not-applicable" and by_id["AMS-1"]["counterexample"] is None
    assert by_id["STATE-3"]["reason"].startswith("RuntimeError")
    assert by_id["AD-2"]["max_bound_fraction"] == 0.43


def test_schema_ships_as_package_data():
    from importlib import resources

    assert resources.files("adamspec.conformance").joinpath("report.schema.json").is_file()


# -- JUnit ------------------------------------------------------------------------------------


def _junit_counts(text: str) -> dict[str, int]:
    root = ET.fromstring(text)
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    cases = suite.findall("testcase")
    counted = {
        "tests": len(cases),
        "failures": sum(c.find("failure") is not None for c in cases),
        "errors": sum(c.find("error") is not None for c in cases),
        "skipped": sum(c.find("skipped") is not None for c in cases),
    }
    assert {k: int(suite.get(k)) for k in counted} == counted
    assert suite.get("name") == "adamspec:torch.adamw.fused"
    return counted


@pytest.mark.parametrize("fixture,expected", [
    ("pass_run", {"tests": 2, "failures": 0, "errors": 0, "skipped": 0}),
    ("fail_run", {"tests": 3, "failures": 1, "errors": 0, "skipped": 0}),
    ("mixed_run", {"tests": 5, "failures": 1, "errors": 1, "skipped": 1}),
])
def test_junit_counts(fixture, expected, request):
    assert _junit_counts(report_junit.to_junit(request.getfixturevalue(fixture))) == expected


def test_junit_failure_body_is_the_counterexample(fail_run):
    root = ET.fromstring(report_junit.to_junit(fail_run))
    case = next(c for c in root.iter("testcase") if c.find("failure") is not None)
    assert case.get("classname") == "adamspec.torch.adamw.fused"
    assert case.get("name") == "AW-3 test_uniform_decay"
    failure = case.find("failure")
    assert failure.get("message").startswith("θ at g = 0")
    assert failure.text.strip() == report_text.counterexample_text(counterexample())


def _excused() -> Excused:
    return Excused("AW-3 bfloat16", "torch 2.13 fused bf16", counterexample())


def test_junit_a_property_showing_only_a_known_deviation_is_skipped(fail_run):
    v = fail_run.verdicts[-1]
    v.verdict, v.excused, v.failures = "pass", [_excused()], []
    assert fail_run.verdict == "conformant"
    counts = _junit_counts(report_junit.to_junit(fail_run))
    assert counts["failures"] == 0 and counts["skipped"] == 1


def test_a_failure_beside_a_known_deviation_shows_both_everywhere(fail_run):
    v = fail_run.verdicts[-1]
    v.excused = [_excused()]
    assert fail_run.verdict == "non-conformant"
    assert _junit_counts(report_junit.to_junit(fail_run))["failures"] == 1
    doc = report_json.to_dict(fail_run)
    row = doc["properties"][-1]
    assert row["refuted"] == ["AW-3"] and row["excused"][0]["label"] == "AW-3 bfloat16"
    assert row["excused"][0]["counterexample"]["replay"] == REPLAY
    md = report_markdown.to_markdown(fail_run)
    assert "Known deviations seen" in md and "torch 2.13 fused bf16" in md
    console = Console(record=True, width=120, color_system=None)
    report_terminal.render(fail_run, console)
    out = console.export_text()
    assert "known deviation: AW-3 bfloat16" in out and "FAIL AW-3 + 1 known deviation" in out


def test_warnings_appear_in_every_format(pass_run):
    pass_run.warnings.append("known deviation AD-1 on x excused nothing (fixed?): stale one")
    assert "stale one" in report_json.to_json(pass_run)
    assert "stale one" in report_junit.to_junit(pass_run)
    assert "stale one" in report_markdown.to_markdown(pass_run)
    console = Console(record=True, width=200, color_system=None)
    report_terminal.render(pass_run, console)
    assert "stale one" in console.export_text()


def test_junit_survives_control_characters(pass_run):
    pass_run.verdicts.append(verdict("test_x", "AD-4", verdict="error", reason="bad \x00\x1b byte"))
    ET.fromstring(report_junit.to_junit(pass_run))


# -- Markdown ---------------------------------------------------------------------------------


def test_markdown_table_and_details(mixed_run):
    md = report_markdown.to_markdown(mixed_run)
    assert md.startswith("## adamspec: `torch.adamw.fused` — **error**")
    assert report_text.summary_line(mixed_run) in md
    assert "| Clause | Title | Verdict | Examples | Max ULP | Max fraction of bound | Time |" in md
    assert f"| AD-2 | {clause('AD-2').title} | pass | 200 | 0.5 | 0.43 | 1.25 s |" in md
    assert "| AW-3 |" in md and "**FAIL**" in md and "**ERROR**" in md and "_not applicable_" in md
    failures = sum(v.verdict in ("fail", "error") for v in mixed_run.verdicts)
    assert md.count("<details>") == md.count("</details>") == failures
    assert f"replay: {REPLAY}" in md and "```text" in md


def test_markdown_pass_only_has_no_details(pass_run):
    md = report_markdown.to_markdown(pass_run)
    assert "**conformant**" in md and "<details>" not in md


# -- terminal ---------------------------------------------------------------------------------


def test_terminal_render(fail_run):
    console = Console(record=True, width=120, color_system=None)
    report_terminal.render(fail_run, console)
    out = console.export_text()
    summary = "torch.adamw.fused: non-conformant — 2 pass, 1 fail, 0 not applicable, 0 error; in 4.5 s"
    assert summary in out
    assert "FAIL" in out and "0.43" in out and "AD-2" in out
    assert "0x3f00" in out and "replay:" in out


def test_terminal_summary_conformant(pass_run):
    console = Console(record=True, width=120)
    report_terminal.render(pass_run, console)
    out = console.export_text()
    assert "torch.adamw.fused: conformant — 2 pass, 0 fail, 0 not applicable, 0 error; in 3.8 s" in out
    assert "FAIL" not in out
