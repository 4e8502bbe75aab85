"""Element-steps per second of the oracles on one core: exact.step vs fast_step, and the same
double-double step on torch (reference/fast_torch.py) on the CPU and, where there is one, CUDA.

AdamW on random float32 state, the same inputs for all. The naive reference runs its
per-element mpmath loop at 256 bits; the double-double oracle runs vectorised numpy, or torch
with one intra-op thread (the CPU figures are per core). On CUDA the inputs start on the device
and the figure is the device's (synchronised). Best of a few repetitions each. The last line
printed is one JSON object; the torch figures are absent without torch.

    python bench/oracle.py
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from adamspec.reference import Hyper, State, exact
from adamspec.reference.fast import fast_step

N_MPMATH = 2000
N_FAST = 1 << 20
N_CUDA = 1 << 26  # enough work that the device, not the launches, sets the rate
REPS_MPMATH = 3
REPS_FAST = 5


def _pin_one_core():
    """numpy's elementwise ops are single-threaded already; pinning makes it explicit."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _inputs(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(n).astype(np.float32)
    g = (rng.standard_normal(n) * 1e-2).astype(np.float32)
    m = (rng.standard_normal(n) * 1e-3).astype(np.float32)
    v = (rng.random(n) * 1e-4).astype(np.float32)
    return theta, g, m, v


def _best(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> dict:
    _pin_one_core()
    h = Hyper(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2, mode="adamw")
    t_prev = 100

    theta, g, m, v = _inputs(N_MPMATH)
    state = State.from_floats(theta, m, v, t_prev)
    t_mp = _best(lambda: exact.step(state, g, h, precision=256), REPS_MPMATH)

    theta, g, m, v = _inputs(N_FAST)
    fallback = fast_step(theta, g, m, v, t_prev, h).fallback
    t_fast = _best(lambda: fast_step(theta, g, m, v, t_prev, h), REPS_FAST)

    mp_rate, fast_rate = N_MPMATH / t_mp, N_FAST / t_fast
    print(f"exact.step (mpmath, 256 bits): {N_MPMATH} elements in {t_mp:.3f} s "
          f"-> {mp_rate:,.0f} element-steps/s")
    print(f"fast_step (double-double):     {N_FAST} elements in {t_fast:.3f} s "
          f"-> {fast_rate:,.0f} element-steps/s ({fallback} fallback elements)")
    result = {"mpmath_steps_per_s": round(mp_rate, 1), "fast_steps_per_s": round(fast_rate, 1),
              "ratio": round(fast_rate / mp_rate, 1)}
    result.update(_torch_rates(theta, g, m, v, t_prev, h))
    print(json.dumps(result))
    return result


def _torch_rates(theta, g, m, v, t_prev, h) -> dict:
    """fast_step_torch's element-steps/s on the CPU (one thread) and on CUDA where available."""
    try:
        import torch
    except ImportError:
        return {}
    from adamspec.reference.fast_torch import fast_step_torch

    out = {}
    torch.set_num_threads(1)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        n = N_FAST if device == "cpu" else N_CUDA
        args = [torch.from_numpy(np.resize(a, n)).to(device) for a in (theta, g, m, v)]
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

        def run(args=args, sync=sync):
            fast_step_torch(*args, t_prev, h)
            sync()
        run()  # warm-up (CUDA context, allocator)
        secs = _best(run, REPS_FAST)
        rate = n / secs
        print(f"fast_step_torch ({device}):        {n} elements in {secs:.3f} s -> {rate:,.0f} element-steps/s")
        out[f"torch_{device}_steps_per_s"] = round(rate, 1)
    return out


if __name__ == "__main__":
    main()
