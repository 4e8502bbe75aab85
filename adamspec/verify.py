"""``adamspec bench --verify``: one step at the benchmarked size, every element judged.

A throughput figure says nothing of correctness at the size it was measured: a kernel may
change behaviour past a block or chunk boundary or past 2^31 elements (32-bit indices), where
the suite's small cases never reach. Here one step of the adapter, from an injected state at
the requested size, is checked element by element: the torch oracle (reference/fast_torch.py)
runs chunk by chunk where the adapter runs (CUDA or CPU), and each chunk is judged with
reference/bound.py's ``step_bound`` and ``measure`` under the adapter's declared arithmetic and
variant, exactly as ``judge_step`` judges a small case. The bound is numpy on the host, so
chunks are judged by a pool of threads (numpy releases the GIL). Memory: the inputs and the
adapter's outputs at full size in the storage dtype on the host, plus a few chunks of float64
oracle and bound temporaries.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import ml_dtypes
import numpy as np

from adamspec.adapters.base import GroupSpec, ParamState
from adamspec.conformance.judge import arithmetic_for
from adamspec.reference.bound import measure, step_bound
from adamspec.reference.fast import DD, error_vs
from adamspec.throughput import bench_hyper

NP_DTYPES = {"float32": np.float32, "float64": np.float64, "bfloat16": ml_dtypes.bfloat16}
JUDGE_CHUNK = 1 << 17  # elements per bound evaluation: its ~100 float64 temporaries near the caches
T_PREV = 100  # the injected state's step count: bias corrections well away from both ends


def make_inputs(numel: int, dtype: str, seed: int = 0, fill: int = 1 << 22):
    """θ, g ~ N(0, 1) (as ``bench``), m ~ N(0, 10⁻²), v ~ U(0, 1): a state that is not the first
    step's, drawn in the storage dtype a slice at a time (no full-size float64 temporary)."""
    rng = np.random.default_rng(seed)
    dt = NP_DTYPES[dtype]
    out = [np.empty(numel, dtype=dt) for _ in range(4)]
    draw = np.float64 if dt == np.float64 else np.float32
    for lo in range(0, numel, fill):
        n = min(numel, lo + fill) - lo
        out[0][lo:lo + n] = rng.standard_normal(n, dtype=draw)
        out[1][lo:lo + n] = rng.standard_normal(n, dtype=draw)
        out[2][lo:lo + n] = rng.standard_normal(n, dtype=draw) * draw(0.1)
        out[3][lo:lo + n] = rng.random(n, dtype=draw)
    return out


@dataclass
class _Tally:
    """What the judged chunks add up to; merged in any order (max, min, sums)."""

    checked: int = 0
    offending: int = 0
    first_bad: int | None = None
    first_bad_outputs: tuple = ()
    worst: float = 0.0
    worst_at: tuple = ("theta", -1)
    outside_model: int = 0

    def merge(self, o: _Tally) -> None:
        self.checked += o.checked
        self.offending += o.offending
        self.outside_model += o.outside_model
        if o.first_bad is not None and (self.first_bad is None or o.first_bad < self.first_bad):
            self.first_bad, self.first_bad_outputs = o.first_bad, o.first_bad_outputs
        if o.worst > self.worst or (o.worst == self.worst and self.worst_at[1] < 0):
            self.worst, self.worst_at = o.worst, o.worst_at


def _judge(lo, before, grad, got, exact, t_prev, h, arith, storage, variant) -> _Tally:
    """One slice [lo, lo + len): the bound, the measurements, what they add up to."""
    f64 = {k: (None if a is None else np.asarray(a, dtype=np.float64)) for k, a in before.items()}
    ex64 = {k: dd.hi + dd.lo for k, dd in exact.items()}
    b = step_bound(f64["theta"], np.asarray(grad, dtype=np.float64), f64["m"], f64["v"], t_prev, h, arith,
                   storage, ex64, variant, vmax=f64["vmax"])
    tally = _Tally(checked=len(ex64["theta"]))
    bad = np.zeros(tally.checked, bool)
    per_output = {}
    for name, dd in exact.items():
        g64 = np.full(tally.checked, np.nan) if got[name] is None else np.asarray(got[name], dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            err = error_vs(g64, dd)
        m = measure(g64, ex64[name], err, getattr(b, name), storage, b.outside_model)
        bad |= ~m.ok
        per_output[name] = ~m.ok
        frac = np.where(m.exempt | ~np.isfinite(m.fraction), 0.0, m.fraction)
        if frac.size and frac.max() > tally.worst:
            i = int(np.argmax(frac))
            tally.worst, tally.worst_at = float(frac[i]), (name, lo + i)
    if b.outside_model is not None:
        tally.outside_model = int(np.count_nonzero(b.outside_model))
    if bad.any():
        i = int(np.argmax(bad))
        tally.offending = int(np.count_nonzero(bad))
        tally.first_bad = lo + i
        tally.first_bad_outputs = tuple(k for k, v in per_output.items() if v[i])
    return tally


def _oracle_device(adapter, oracle_device):
    if oracle_device:
        return oracle_device
    import torch

    return "cuda" if "cuda" in adapter.capabilities.devices and torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class _Step:
    """One step's inputs (flat, storage dtype), the adapter's outputs and how to judge them."""

    theta: np.ndarray
    grad: np.ndarray
    m: np.ndarray
    v: np.ndarray
    vmax: np.ndarray | None
    got: dict  # output name -> flat array as stored (None: not kept)
    t_prev: int
    hyper: object
    arith: object
    storage: str
    variant: object

    def judge(self, lo: int, exact: dict) -> _Tally:
        """Judge elements [lo, lo + len) against their exact pairs."""
        sl = slice(lo, lo + len(exact["theta"].hi))
        before = {"theta": self.theta[sl], "m": self.m[sl], "v": self.v[sl],
                  "vmax": None if self.vmax is None else self.vmax[sl]}
        got = {k: None if a is None else a[sl] for k, a in self.got.items()}
        return _judge(lo, before, self.grad[sl], got, exact, self.t_prev, self.hyper, self.arith,
                      self.storage, self.variant)


def verify_step(adapter, numel: int, dtype: str = "float32", mode: str | None = None, *,
                chunk: int | None = None, oracle_device: str | None = None, workers: int | None = None,
                seed: int = 0, progress=sys.stderr, inputs=None) -> dict:
    """Run one step of ``adapter`` at ``numel`` elements and judge every element of θ, m, v.

    Returns the verdict with its evidence: elements checked, the worst share of the bound
    (and where), the first offending flat index and its outputs, the number offending, the
    oracle's fallback count and the times. ``inputs`` (θ, g, m, v) replaces the drawn ones.
    """
    import torch

    caps = adapter.capabilities
    h = bench_hyper(caps, mode)
    theta, grad, m, v = inputs if inputs is not None else make_inputs(numel, dtype, seed)
    t_prev = min(T_PREV, caps.max_step - 1) if caps.max_step else T_PREV
    if not caps.state_injection:  # then the only state to start from is a fresh one
        m, v, t_prev = np.zeros_like(theta), np.zeros_like(theta), 0
    vmax = v.copy() if h.amsgrad else None

    t0 = time.perf_counter()
    session = adapter.open([GroupSpec(h, (theta,))], [ParamState(theta, m, v, vmax, t_prev or None)])
    try:
        session.step([grad])
        after = session.read()[0]
    finally:
        session.close()
    step_s = time.perf_counter() - t0
    got = {"theta": after.theta, "m": after.m, "v": after.v}
    if h.amsgrad:
        got["vmax"] = after.vmax
    got = {k: None if a is None else np.asarray(a).reshape(-1) for k, a in got.items()}
    if got["theta"].size != numel:
        raise ValueError(f"{caps.name} returned {got['theta'].size} parameters, not {numel}")
    step = _Step(theta, grad, m, v, vmax, got, t_prev, h, arithmetic_for(caps, dtype), dtype, caps.variant)

    device = _oracle_device(adapter, oracle_device)
    if not workers:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    t1, threads = time.perf_counter(), torch.get_num_threads()
    if device == "cpu":  # the judging threads share the cores: torch's own pool would fight them
        torch.set_num_threads(1)
    try:
        tally, fallback, oracle_s, chunk = _run(step, numel, chunk, device, workers, progress)
    finally:
        torch.set_num_threads(threads)
    return {
        "adapter": caps.name, "numel": numel, "dtype": dtype, "mode": h.mode.value, "t_prev": t_prev,
        "ok": tally.first_bad is None and tally.checked == numel,
        "elements_checked": tally.checked, "outputs": list(got), "values_checked": tally.checked * len(got),
        "worst_fraction_of_bound": tally.worst,
        "worst_at": {"output": tally.worst_at[0], "index": tally.worst_at[1]},
        "first_offending_index": tally.first_bad, "first_offending_outputs": list(tally.first_bad_outputs),
        "offending_elements": tally.offending, "outside_model": tally.outside_model,
        "oracle_fallback": fallback, "oracle_device": device, "oracle_chunk": chunk,
        "step_seconds": step_s, "oracle_seconds": oracle_s, "verify_seconds": time.perf_counter() - t1,
        "judge_workers": workers,
    }


def _run(step: _Step, numel: int, chunk, device: str, workers: int, progress):
    """The oracle chunk by chunk in this thread, its slices judged by a pool of ``workers``."""
    from adamspec.reference.fast_torch import DEFAULT_CHUNK, iter_step

    chunk = chunk or DEFAULT_CHUNK.get(device.split(":")[0], DEFAULT_CHUNK["cuda"])
    tally, fallback, oracle_s = _Tally(), 0, 0.0
    pending, t_start = [], time.perf_counter()
    last_note = t_start
    with ThreadPoolExecutor(max_workers=workers) as pool:
        chunks = iter_step(step.theta, step.grad, step.m, step.v, step.t_prev, step.hyper, step.variant,
                           step.vmax, chunk=chunk, device=device)
        while True:
            t0 = time.perf_counter()
            c = next(chunks, None)
            if c is None:
                break
            pairs = {"theta": c.theta, "m": c.m, "v": c.v, "vmax": c.vmax}
            host = {k: DD(dd.hi.cpu().numpy(), dd.lo.cpu().numpy()) for k, dd in pairs.items()
                    if k in step.got}
            oracle_s += time.perf_counter() - t0
            fallback += c.fallback
            for lo in range(c.start, c.stop, JUDGE_CHUNK):
                a, b = lo - c.start, min(c.stop, lo + JUDGE_CHUNK) - c.start
                pending.append(pool.submit(step.judge, lo, {k: DD(dd.hi[a:b], dd.lo[a:b]) for k, dd in host.items()}))
            while len(pending) > 2 * workers:  # bounded memory: wait for the oldest slices
                tally.merge(pending.pop(0).result())
            if progress is not None and time.perf_counter() - last_note > 5:
                last_note = time.perf_counter()
                print(f"verify: {c.stop:,}/{numel:,} elements through the oracle, {tally.checked:,} judged, "
                      f"worst so far {tally.worst:.3f} of the bound, {last_note - t_start:.0f} s",
                      file=progress, flush=True)
        for f in pending:
            tally.merge(f.result())
    return tally, fallback, oracle_s, chunk


def verdict_lines(r: dict) -> list[str]:
    """The verified step for the terminal (the JSON line follows it)."""
    head = (f"verified step: {r['elements_checked']:,} elements × {len(r['outputs'])} outputs "
            f"({', '.join(r['outputs'])}) from t = {r['t_prev']}: ")
    if r["ok"]:
        head += "every element within the bound"
    else:
        head += (f"VIOLATION: {r['offending_elements']:,} elements outside the bound, first at flat index "
                 f"{r['first_offending_index']} ({', '.join(r['first_offending_outputs'])})")
    w = r["worst_at"]
    return [
        head,
        f"  worst {r['worst_fraction_of_bound']:.3f} of the bound ({w['output']}[{w['index']}]); "
        f"{r['outside_model']} outside the model; {r['oracle_fallback']} oracle fallback elements",
        f"  oracle on {r['oracle_device']} in {r['oracle_seconds']:.2f} s (chunks of {r['oracle_chunk']:,}); "
        f"verification {r['verify_seconds']:.2f} s with {r['judge_workers']} judging threads; "
        f"the step itself {r['step_seconds']:.2f} s (session.step() and read(), conversions included)",
    ]
