"""``adamspec bench``: throughput next to correctness.

Times one optimizer step over ``numel`` parameters (wall clock on CPU, CUDA events on a GPU,
warm-up excluded) and reports parameter-steps per second and the effective memory bandwidth
that implies (AdamW reads θ, g, m, v and writes θ, m, v: 7 words per parameter), next to the
machine's measured copy bandwidth (read + write) as the roofline.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from adamspec.adapters.base import Benchmarks, GroupSpec
from adamspec.reference import Hyper

WORDS_PER_PARAM = 7  # reads θ, g, m, v; writes θ, m, v


def _timer(torch, device: str):
    if device == "cuda":
        def timed(fn, reps):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(reps):
                fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / 1000 / reps
    else:
        def timed(fn, reps):
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            return (time.perf_counter() - t0) / reps
    return timed


def copy_bandwidth(torch, numel: int, dtype, device: str, reps: int = 10) -> float:
    """Bytes per second moved by copying a buffer (read + write), the roofline.

    On CPU numpy's copyto (memcpy) is used: torch 2.13's CPU ``copy_`` measured 4 GB/s here
    against numpy's 23 GB/s for the same 16 MB, and a roofline must be the fast one.
    """
    timed = _timer(torch, device)
    if device == "cpu":
        src = np.ones(numel, dtype={torch.float64: np.float64, torch.bfloat16: np.uint16}.get(dtype, np.float32))
        dst = np.empty_like(src)

        def copy():
            np.copyto(dst, src)
        size = src.itemsize
    else:
        src = torch.ones(numel, dtype=dtype, device=device)
        dst = torch.empty_like(src)

        def copy():
            dst.copy_(src)
        size = src.element_size()
    timed(copy, 2)
    secs = min(timed(copy, reps) for _ in range(3))
    return 2 * numel * size / secs


def bench_hyper(caps, mode: str | None = None) -> Hyper:
    """The benchmarked step's hyperparameters (shared with ``bench --verify``): the adapter's last
    mode unless one is named, lr 10⁻³, λ = 0.01 where the mode has a decay."""
    mode = mode or sorted(caps.modes)[-1]
    return Hyper(lr=1e-3, weight_decay=0.01 if mode != "adam" else 0.0, mode=mode)


def bench(adapter, numel: int, dtype: str = "float32", reps: int = 10, mode: str | None = None) -> dict:
    """Time ``reps`` steps (best of 3 repetitions after warm-up)."""
    import torch

    caps = adapter.capabilities
    h = bench_hyper(caps, mode)
    mode = h.mode.value
    import ml_dtypes

    rng = np.random.default_rng(0)
    np_dtype = {"float32": np.float32, "float64": np.float64, "bfloat16": ml_dtypes.bfloat16}[dtype]
    theta = rng.standard_normal(numel).astype(np_dtype)
    grad = rng.standard_normal(numel).astype(np_dtype)
    session = adapter.open([GroupSpec(h, (theta,))], [None])
    if isinstance(session, Benchmarks):  # e.g. a torch optimizer: opt.step() itself, gradients in place
        step = session.benchmark_step([grad])
        one_step, what, device = step.run, step.what, step.device
    else:  # any other adapter: its session's step, conversions included
        def one_step():
            session.step([grad])
        what, device = "session.step() (includes the adapter's conversions)", "cpu"
    timed = _timer(torch, device)
    timed(one_step, 2)  # warm-up: state creation, kernel compilation, caches
    runs = [timed(one_step, reps) for _ in range(3)]
    secs = min(runs)
    tdtype = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}[dtype]
    copy_bw = copy_bandwidth(torch, numel, tdtype, device)
    word = np.dtype(np_dtype).itemsize
    eff_bw = WORDS_PER_PARAM * word * numel / secs
    session.close()
    return {"adapter": caps.name, "device": device, "numel": numel, "dtype": dtype, "mode": mode,
            "timed": what, "seconds_per_step": secs, "seconds_spread": statistics.pstdev(runs),
            "param_steps_per_s": numel / secs, "effective_bytes_per_s": eff_bw,
            "copy_bytes_per_s": copy_bw, "fraction_of_copy": eff_bw / copy_bw}
