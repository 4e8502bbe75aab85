"""bench/matrix.py: the README's conformance matrix is its Markdown; a row says what was run and
what came out, and an adapter that did not run is listed with the reason."""

import importlib.util
import json
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("matrix", Path(__file__).resolve().parents[1] / "bench" / "matrix.py")
matrix = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(matrix)


def test_rows_and_skipped_adapters_are_all_in_the_table():
    rows = [{"adapter": "optax.adam", "library": "optax", "version": "0.2.8", "modes": ["adam", "adam_l2"],
             "dtypes": ["float32", "float64"], "verdict": "conformant", "excused": ["VAL-1", "AD-13 (m)"],
             "failed": [], "identified": "canonical", "computes": "adam_l2", "worst_bound_fraction": 0.41,
             "seconds": 21.0, "identify_seconds": 9.0},
            {"adapter": "x.bad", "library": "x", "version": "1", "modes": ["adamw"], "dtypes": ["float32"],
             "verdict": "non-conformant", "failed": ["AD-1"], "identified": {"eps_placement": "hat"},
             "computes": "adamw", "seconds": 3.0}]
    text = matrix.markdown(rows, {"torch.adamw.cuda-fused": "no CUDA GPU"}, "ci")
    lines = text.splitlines()
    assert len(lines) == 2 + 3
    assert "| `optax.adam` | optax 0.2.8 | adam, adam_l2 |" in lines[2] and "VAL-1; AD-13 (m)" in lines[2]
    assert "non-conformant (fails AD-1)" in lines[3] and "eps_placement = hat, computes adamw" in lines[3]
    assert "| canonical, computes adam_l2 |" in lines[2]
    assert lines[4].startswith("| `torch.adamw.cuda-fused` |") and "not run: no CUDA GPU" in lines[4]


@pytest.mark.parametrize("marker, stem", [("matrix", "matrix"), ("sharded-ci", "sharded_ci"),
                                          ("sharded-default", "sharded_default")])
def test_the_readme_shows_the_committed_matrix(marker, stem):
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    body = readme.split(f"<!-- {marker}:begin", 1)[1].split("-->", 1)[1].split(f"<!-- {marker}:end -->", 1)[0]
    assert body.strip() == (root / "bench" / f"{stem}.md").read_text(encoding="utf-8").strip()
    doc = json.loads((root / "bench" / f"{stem}.json").read_text(encoding="utf-8"))
    assert matrix.markdown(doc["rows"], doc["not_run"], doc["profile"]).strip() == body.strip()


def test_from_json_merges_runs_a_later_row_replacing_an_earlier_one(tmp_path):
    def run(command, rows):
        return {"command": command, "profile": "ci", "rows": rows, "not_run": {}}

    a = {"adapter": "x.a", "library": "x", "version": "1", "verdict": "non-conformant", "seconds": 1.0}
    b = {"adapter": "x.b", "library": "x", "version": "1", "verdict": "conformant", "seconds": 2.0}
    first, second = tmp_path / "1.json", tmp_path / "2.json"
    first.write_text(json.dumps(run("python bench/matrix.py --adapters x.a x.b", [a, b])))
    second.write_text(json.dumps(run("python bench/matrix.py --adapters x.a", [a | {"verdict": "conformant"}])))
    out, md = tmp_path / "out.json", tmp_path / "out.md"
    assert matrix.main(["--from-json", str(first), str(second), "--json", str(out), "--markdown", str(md)]) == 0
    doc = json.loads(out.read_text())
    assert [r["adapter"] for r in doc["rows"]] == ["x.a", "x.b"]
    assert [r["verdict"] for r in doc["rows"]] == ["conformant", "conformant"]
    assert doc["command"] == "python bench/matrix.py --adapters x.a x.b ; python bench/matrix.py --adapters x.a"
    assert md.read_text().count("| `x.") == 2
    other = tmp_path / "3.json"
    other.write_text(json.dumps(run("c", [a]) | {"profile": "default"}))
    with pytest.raises(SystemExit):
        matrix.main(["--from-json", str(first), str(other), "--markdown", str(md)])
