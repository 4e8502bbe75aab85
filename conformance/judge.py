"""Judging one step of an implementation against the exact reference (SPEC NUM-2, NUM-5).

The inputs of the step are whatever the implementation held before it (its own rounded
state, re-based every step), so a trajectory is judged one attributable step at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np

from adamspec.adapters.base import Capabilities, ParamState
from adamspec.reference import exact
from adamspec.reference.bound import Arithmetic, Measurement, measure, step_bound
from adamspec.reference.floats import float_format
from adamspec.reference.hyper import Hyper


@dataclass(frozen=True)
class StepJudgement:
    """Per-output measurements of one parameter's step (θ, m, v and vmax when kept)."""

    outputs: dict[str, Measurement]
    exact: dict[str, np.ndarray]  # exact values rounded to binary64, for reports
    bounds: dict[str, np.ndarray]  # B per element (before the constant C)
    got: dict[str, np.ndarray]  # the implementation's stored values, binary64
    exact_mpf: dict[str, np.ndarray]  # the exact values themselves (object arrays of mpf)

    def digits(self, name: str, flat_index: int, n: int = 30) -> str:
        """The exact value of one element to ``n`` significant digits."""
        return mpmath.nstr(self.exact_mpf[name].reshape(-1)[flat_index], n)

    @property
    def ok(self) -> bool:
        return all(bool(m.ok.all()) for m in self.outputs.values())

    @property
    def worst_fraction(self) -> float:
        return _worst(np.where(m.exempt, 0.0, m.fraction) for m in self.outputs.values())

    @property
    def worst_ulps(self) -> float:
        return _worst(np.where(m.exempt, 0.0, m.ulps) for m in self.outputs.values())


def _worst(arrays) -> float:
    """Largest finite value over arrays (NaN/inf entries are class verdicts, not headroom)."""
    best = 0.0
    for a in arrays:
        a = np.asarray(a, dtype=np.float64)
        finite = a[np.isfinite(a)]
        if finite.size:
            best = max(best, float(finite.max()))
    return best


def arithmetic_for(caps: Capabilities, storage: str) -> Arithmetic:
    """The arithmetic an adapter declares for a storage dtype (SPEC DT-2, DT-4)."""
    return Arithmetic(compute=caps.compute[storage], scalars=caps.scalars, powers=caps.powers)


def _exact_error(got: np.ndarray, exact_values: np.ndarray) -> np.ndarray:
    """got − exact in binary64, computed from the exact mpf (the subtraction is exact here)."""
    flat_got = np.asarray(got, dtype=np.float64).reshape(-1)
    out = np.zeros(flat_got.shape)
    with mpmath.workprec(256):
        for i, (a, e) in enumerate(zip(flat_got, exact_values.reshape(-1))):
            if mpmath.isfinite(e) and np.isfinite(a):
                out[i] = float(mpmath.mpf(float(a)) - e)
    return out.reshape(np.shape(got))


def judge_step(before: ParamState, grad: np.ndarray, hyper: Hyper, after: ParamState,
               caps: Capabilities) -> StepJudgement:
    """Compare ``after`` with the exact step from ``before`` within the declared bound."""
    storage = float_format(np.asarray(before.theta).dtype).name
    th = np.asarray(before.theta, dtype=np.float64)
    fresh = before.step is None or before.step == 0
    zeros = np.zeros_like(th)
    m = zeros if fresh else np.asarray(before.m, dtype=np.float64)
    v = zeros if fresh else np.asarray(before.v, dtype=np.float64)
    vmax = None
    if hyper.amsgrad:
        vmax = zeros if fresh or before.vmax is None else np.asarray(before.vmax, dtype=np.float64)
    t_prev = 0 if fresh else int(before.step)
    g = np.asarray(grad, dtype=np.float64)
    ex = exact.step(exact.State.from_floats(th, m, v, t_prev, vmax=vmax), g, hyper, caps.profile)
    ex64 = ex.as_float64()
    bound = step_bound(th, g, m, v, t_prev, hyper, arithmetic_for(caps, storage), storage, ex64,
                       caps.profile, vmax=vmax)
    outputs, bounds, gots, mpfs = {}, {}, {}, {}
    for name in ("theta", "m", "v", "vmax"):
        if name == "vmax" and not hyper.amsgrad:
            continue
        got = getattr(after, name)
        if got is None:
            got = np.full(th.shape, np.nan)  # state the implementation did not keep
        got64 = np.asarray(got, dtype=np.float64)
        err = _exact_error(got64, getattr(ex, name))
        outputs[name] = measure(got64, ex64[name], err, getattr(bound, name), storage,
                                bound.outside_model)
        bounds[name], gots[name], mpfs[name] = getattr(bound, name), got64, getattr(ex, name)
    return StepJudgement(outputs, ex64, bounds, gots, mpfs)
