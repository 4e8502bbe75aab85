"""The command line: exit codes, formats, replay, and broken adapters that must not break the suite."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from adamspec.conformance.report_json import schema

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "tests" / "fixtures")}


def adamspec(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "adamspec", *args], capture_output=True, text=True,
                          env=ENV, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def wrong_run(tmp_path_factory):
    """A deliberately wrong optimizer (decay after the update) through --claim, as JSON."""
    out = tmp_path_factory.mktemp("run") / "report.json"
    proc = adamspec("run", "--adapter", "wrong_optimizers:DecayAfterUpdate", "--claim", "adamw",
                    "--clause", "AW-1", "--format", "json", "-o", str(out), "-q")
    return proc, json.loads(out.read_text())


def test_correct_adapter_exits_0_with_a_table():
    proc = adamspec("run", "--adapter", "numpy.adamw", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "numpy.adamw: conformant" in proc.stdout and "AW-3" in proc.stdout


def test_wrong_optimizer_exits_1_with_a_validated_json_report(wrong_run):
    proc, report = wrong_run
    assert proc.returncode == 1, proc.stderr
    jsonschema.validate(report, schema())
    assert report["verdict"] == "non-conformant"
    failed = [c for c in report["properties"] if c["verdict"] == "fail"]
    assert failed and failed[0]["counterexample"]["replay"].startswith("adamspec replay ")


def test_replay_reproduces_the_counterexample(wrong_run):
    _, report = wrong_run
    cmd = next(c for c in report["properties"] if c["verdict"] == "fail")["counterexample"]["replay"]
    proc = adamspec(*cmd.split()[1:])
    assert proc.returncode == 1 and "FAILS" in proc.stdout, proc.stdout + proc.stderr


def test_junit_and_markdown_formats(tmp_path):
    for fmt in ("junit", "markdown"):
        out = tmp_path / f"r.{fmt}"
        proc = adamspec("run", "--adapter", "numpy.adamw", "--clause", "AW-3", "--format", fmt,
                        "-o", str(out), "-q")
        assert proc.returncode == 0, proc.stderr
        text = out.read_text()
        if fmt == "junit":
            suite = ET.fromstring(text).find("testsuite")
            assert int(suite.get("failures")) == 0 and int(suite.get("tests")) >= 1
        else:
            assert "| AW-3" in text or "AW-3" in text


@pytest.mark.parametrize("name,clause,status,words,refuted", [
    ("raises_in_step", "AW-3", 1, "kernel launch failed", ["AW-3"]),  # an error, filed under the property's clause
    ("nan_everywhere", "AW-3", 1, "m differs from", ["AD-2"]),  # m is wrong first, so AD-2
    ("wrong_shape", "AW-3", 1, "shape", ["STATE-4"]),
    ("wrong_dtype", "AW-3", 1, "theta differs", ["AW-3"]),
    ("mutates_gradient", "MUT-1", 1, "gradient changed", ["MUT-1"]),
])
def test_broken_adapters_get_a_clear_per_clause_verdict(name, clause, status, words, refuted, tmp_path):
    out = tmp_path / "r.json"
    proc = adamspec("run", "--adapter", f"broken_adapters:{name}", "--clause", clause, "--format", "json",
                    "-o", str(out), "-q")
    assert proc.returncode == status, proc.stderr
    report = json.loads(out.read_text())
    row = next(c for c in report["properties"] if clause in c["clauses"])
    assert row["verdict"] in ("fail", "error")
    assert words in json.dumps(row["failures"] or row["reason"]), row
    assert row["refuted"] == refuted
    assert "Traceback" not in proc.stderr


def test_a_hanging_adapter_is_an_error_naming_the_clause(tmp_path):
    out = tmp_path / "r.json"
    proc = adamspec("run", "--adapter", "broken_adapters:hangs", "--clause", "AW-3", "--example-timeout", "1",
                    "--format", "json", "-o", str(out), "-q", timeout=120)
    report = json.loads(out.read_text())
    row = next(c for c in report["properties"] if c["id"] == "AW-3")
    assert row["verdict"] == "error" and "per-example limit" in row["reason"]
    assert proc.returncode == 1


@pytest.mark.parametrize("args,words", [
    (["--adapter", "no.such.module:thing"], "cannot import module"),
    (["--adapter", "torch.adamw.nonsense"], "unknown adapter"),
    (["--adapter", "broken_adapters:no_such_attr"], "has no attribute"),
    (["--adapter", "wrong_optimizers:DecayAfterUpdate"], "--claim"),
    (["--adapter", "numpy.adamw", "--clause", "ZZ-1"], "no such clause"),
    (["--adapter", "numpy.adamw", "--profile", "sometimes"], "invalid choice"),
    (["--adapter", "numpy.adamw", "--dtypes", "float16"], "supports bfloat16, float32, float64, not float16"),
])
def test_usage_errors_exit_2_with_one_clear_line(args, words):
    proc = adamspec("run", *args, "-q")
    assert proc.returncode == 2
    assert words in proc.stderr and "Traceback" not in proc.stderr


def test_nothing_applicable_is_a_usage_error():
    proc = adamspec("run", "--adapter", "numpy.adamw", "--clause", "L2-3", "-q")
    assert proc.returncode == 2 and "not applicable" in proc.stderr


def test_an_adapter_that_cannot_be_built_exits_3():
    proc = adamspec("run", "--adapter", "broken_adapters:cannot_build", "-q")
    assert proc.returncode == 3 and "CUDA driver not found" in proc.stderr


def test_adapters_command_lists_builtins():
    proc = adamspec("adapters")
    assert proc.returncode == 0 and "torch.adamw.fused" in proc.stdout and "numpy.adam" in proc.stdout


def test_a_torch_adapter_without_torch_exits_3_at_once(monkeypatch, capsys):
    """Without torch installed, a torch adapter is refused before any property runs."""
    import importlib.util

    from adamspec.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    assert main(["run", "--adapter", "torch.adamw.fused", "-q"]) == 3
    assert "torch is not installed" in capsys.readouterr().err


def test_dtypes_narrows_what_is_judged(tmp_path):
    """`--dtypes` gates a kernel on some storage dtypes only; the report's capability record says so."""
    out = tmp_path / "r.json"
    proc = adamspec("run", "--adapter", "numpy.adamw", "--dtypes", "bfloat16", "--clause", "AD-1",
                    "--format", "json", "-o", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["capabilities"]["dtypes"] == ["bfloat16"]
    assert all(c["counterexample"] is None for c in report["properties"])


def _no_gpu_here() -> bool:
    try:
        import torch
    except ImportError:
        return True  # then "torch is not installed" is the reason, also exit 3
    return not torch.cuda.is_available()


def _token_for(adapter: str) -> str:
    import numpy as np

    from adamspec.conformance.cases import Case, GroupCase, ParamCase
    from adamspec.conformance.replay import ReplayPayload, encode
    from adamspec.reference.hyper import Hyper

    theta = np.array([1.0, -2.0, 0.5], np.float32)
    case = Case((GroupCase(Hyper(mode="adamw", weight_decay=0.01), (ParamCase(theta),)),),
                ((np.full(3, 0.25, np.float32),),))
    return encode(ReplayPayload("agreement_one_step", adapter, case))


@pytest.mark.skipif(not _no_gpu_here(), reason="needs a machine without a CUDA GPU")
@pytest.mark.parametrize("command", [
    ["bench", "--adapter", "torch.adamw.cuda-fused", "--numel", "64", "--reps", "1"],
    ["replay", _token_for("torch.adamw.cuda-fused")],
    ["replay", _token_for("numpy.adamw"), "--adapter", "torch.adamw.cuda-fused"],
], ids=["bench", "replay", "replay-override"])
def test_an_adapter_that_cannot_run_here_exits_3_with_the_reason_in_every_command(command):
    """run, bench and replay share one loader: an unavailable adapter is refused with its reason."""
    proc = adamspec(*command)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "cannot be built here" in proc.stderr and "Traceback" not in proc.stderr
    assert "no CUDA GPU" in proc.stderr or "torch is not installed" in proc.stderr


def test_replay_of_a_fresh_token_passes_on_a_correct_adapter():
    """A token made by this version (case format 2) replays; numpy.adamw is correct on it."""
    proc = adamspec("replay", _token_for("numpy.adamw"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passes on numpy.adamw" in proc.stdout


def test_adapters_lists_every_builtin_as_json():
    from adamspec.adapters.registry import builtin_names

    proc = adamspec("adapters", "--format", "json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout)["adapters"]
    assert [r["name"] for r in rows] == list(builtin_names())
    for r in rows:
        assert isinstance(r["runs_here"], bool) and (r["why_not"] is None) == r["runs_here"], r
        assert r["capabilities"]["name"] == r["name"] and r["capabilities"]["modes"]
