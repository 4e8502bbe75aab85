"""bench/matrix.py: the README's conformance matrix is its Markdown; a row says what was run and
what came out, and an adapter that did not run is listed with the reason."""

import importlib.util
from pathlib import Path

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


def test_the_readme_shows_the_committed_matrix():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    body = readme.split("<!-- matrix:begin", 1)[1].split("-->", 1)[1].split("<!-- matrix:end -->", 1)[0]
    assert body.strip() == (root / "bench" / "matrix.md").read_text(encoding="utf-8").strip()
    doc = __import__("json").loads((root / "bench" / "matrix.json").read_text(encoding="utf-8"))
    assert matrix.markdown(doc["rows"], doc["not_run"], doc["profile"]).strip() == body.strip()
