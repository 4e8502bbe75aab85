"""Element-steps per second of the two oracles on one core: exact.step vs fast_step.

AdamW on random float32 state, the same inputs for both. The naive reference runs its
per-element mpmath loop at 256 bits; the double-double oracle runs vectorised numpy.
Best of a few repetitions each. The last line printed is one JSON object.

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
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
