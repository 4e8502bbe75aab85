"""Judging one step of an implementation against the exact reference (SPEC NUM-2, NUM-5).

The inputs of the step are whatever the implementation held before it (its own rounded
state, re-based every step), so a trajectory is judged one attributable step at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np

from adamspec.adapters.base import Capabilities, ParamState
from adamspec.reference.bound import Arithmetic, Measurement, measure, step_bound
from adamspec.reference.fast import DD, error_vs, fast_step
from adamspec.reference.floats import float_format
from adamspec.reference.hyper import Hyper


@dataclass(frozen=True)
class StepJudgement:
    """Per-output measurements of one parameter's step (θ, m, v and vmax when kept)."""

    outputs: dict[str, Measurement]
    exact: dict[str, np.ndarray]  # exact values rounded to binary64, for reports
    bounds: dict[str, np.ndarray]  # B per element (before the constant C)
    got: dict[str, np.ndarray]  # the implementation's stored values, binary64
    exact_dd: dict[str, DD]  # the exact values as double-double pairs (≈ 2⁻¹⁰⁴ relative)

    def digits(self, name: str, flat_index: int, n: int = 30) -> str:
        """The exact value of one element to ``n`` significant digits (hi + lo, summed exactly)."""
        dd = self.exact_dd[name]
        hi, lo = float(dd.hi.reshape(-1)[flat_index]), float(dd.lo.reshape(-1)[flat_index])
        if not np.isfinite(hi):
            return repr(hi)
        with mpmath.workprec(200):
            return mpmath.nstr(mpmath.mpf(hi) + mpmath.mpf(lo), n)

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
    # The fast oracle: double-double, validated against the mpmath reference in the test
    # suite, with mpmath itself for the elements double-double cannot carry.
    ex = fast_step(th, g, m, v, t_prev, hyper, caps.profile, vmax=vmax)
    ex64 = {name: getattr(ex, name).to_float64() for name in ("theta", "m", "v")}
    if hyper.amsgrad:
        ex64["vmax"] = ex.vmax.to_float64()
    bound = step_bound(th, g, m, v, t_prev, hyper, arithmetic_for(caps, storage), storage, ex64,
                       caps.profile, vmax=vmax)
    outputs, bounds, gots, dds = {}, {}, {}, {}
    for name in ex64:
        got = getattr(after, name)
        if got is None:
            got = np.full(th.shape, np.nan)  # state the implementation did not keep
        got64 = np.asarray(got, dtype=np.float64)
        if got64.shape != th.shape:
            got64 = np.full(th.shape, np.nan)  # shape violations are reported by the property
        with np.errstate(invalid="ignore", over="ignore"):
            err = error_vs(got64, getattr(ex, name))
        outputs[name] = measure(got64, ex64[name], err, getattr(bound, name), storage,
                                bound.outside_model)
        bounds[name], gots[name], dds[name] = getattr(bound, name), got64, getattr(ex, name)
    return StepJudgement(outputs, ex64, bounds, gots, dds)
