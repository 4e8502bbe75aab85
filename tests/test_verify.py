"""``adamspec bench --verify`` judges every element of a full-size step (adamspec/verify.py).

Small sizes with small chunks, so that the oracle's chunks and the judging slices both cut the
array several times (and neither divides its length): a correct step passes with headroom
reported, and a step wrong only past a chunk boundary is caught at its first wrong element.
"""

import json
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("torch")

from adamspec import verify  # noqa: E402
from adamspec.adapters.numpy_impl import NumpyAdapter, numpy_step  # noqa: E402
from adamspec.cli import main  # noqa: E402

N, CHUNK, JUDGE = 5000, 1024, 700


@pytest.fixture(autouse=True)
def _small_slices(monkeypatch):
    monkeypatch.setattr(verify, "JUDGE_CHUNK", JUDGE)


class WrongPast:
    """numpy.adamw, but from flat index ``k`` on its θ decays by 10λ·α instead of λ·α: a kernel
    whose second block gets the wrong scalar. m and v stay right."""

    def __init__(self, k: int):
        self.inner, self.k = NumpyAdapter("adamw"), k
        self.capabilities = self.inner.capabilities

    def open(self, groups, states):
        return _WrongSession(self.inner.open(groups, states), groups, states, self.k)


class _WrongSession:
    def __init__(self, inner, groups, states, k):
        self.inner, self.groups, self.states, self.k = inner, groups, states, k

    def step(self, grads):
        self.inner.step(grads)
        h, st = self.groups[0].hyper, self.states[0]
        wrong = replace(h, weight_decay=10 * h.weight_decay)
        self.wrong_theta = numpy_step(self.groups[0].params[0], grads[0], st.m, st.v, None, st.step, wrong)[0]

    def read(self):
        ps = self.inner.read()[0]
        theta = ps.theta.copy()
        theta[self.k:] = self.wrong_theta[self.k:]
        return [replace(ps, theta=theta)]

    def close(self):
        self.inner.close()


def test_a_correct_step_passes_with_its_headroom():
    r = verify.verify_step(NumpyAdapter("adamw"), N, "float32", chunk=CHUNK, progress=None)
    assert r["ok"] and r["elements_checked"] == N and r["outputs"] == ["theta", "m", "v"]
    assert r["first_offending_index"] is None and r["offending_elements"] == 0
    assert 0 < r["worst_fraction_of_bound"] <= 1 and 0 <= r["worst_at"]["index"] < N
    assert r["t_prev"] > 0 and r["oracle_fallback"] == 0 and r["oracle_chunk"] == CHUNK


@pytest.mark.parametrize("k", [2 * CHUNK, 2 * CHUNK + 1, 3 * JUDGE + 5, N - 1])
def test_a_step_wrong_past_a_chunk_boundary_is_caught_at_its_first_element(k):
    r = verify.verify_step(WrongPast(k), N, "float32", chunk=CHUNK, progress=None)
    assert not r["ok"]
    assert r["first_offending_index"] == k and r["first_offending_outputs"] == ["theta"]
    assert 0 < r["offending_elements"] <= N - k
    assert r["worst_fraction_of_bound"] > 1 and r["worst_at"]["index"] >= k
    assert "VIOLATION" in verify.verdict_lines(r)[0] and str(k) in verify.verdict_lines(r)[0]


def test_other_dtypes_and_modes(monkeypatch):
    """float64 and bfloat16 storage; Adam+L2 (the numpy.adam adapter's last mode)."""
    for adapter, dtype in ((NumpyAdapter("adam"), "float64"), (NumpyAdapter("adamw"), "bfloat16")):
        r = verify.verify_step(adapter, 3001, dtype, chunk=CHUNK, progress=None)
        assert r["ok"] and r["elements_checked"] == 3001, r
    assert r["mode"] == "adamw" and verify.verify_step(NumpyAdapter("adam"), 10, progress=None)["mode"] == "adam_l2"


def test_inputs_are_drawn_in_the_storage_dtype_and_reproducibly():
    a = verify.make_inputs(1000, "float32", seed=1, fill=300)
    b = verify.make_inputs(1000, "float32", seed=1, fill=300)
    assert all(x.dtype == np.float32 and np.array_equal(x, y) for x, y in zip(a, b))
    assert (a[3] >= 0).all() and np.std(a[0]) > 0.5 and np.std(a[2]) < 0.5  # v ≥ 0; m smaller than θ


def test_cli_bench_verify_prints_the_verdict_and_exits_by_it(capsys):
    assert main(["bench", "--adapter", "numpy.adamw", "--numel", "3000", "--reps", "1", "--verify"]) == 0
    out = capsys.readouterr().out.splitlines()
    result = json.loads(out[-1])
    assert result["ok"] and result["elements_checked"] == 3000
    assert any(line.startswith("verified step: 3,000 elements") for line in out)
