"""The exact reference: the spec's step over numpy arrays, evaluated in mpmath.

Every input is a binary float (float16, bfloat16, float32 or float64) and converts
exactly; results are returned exactly (object arrays of mpf), with helpers to round
them to a storage format. This module knows nothing of any framework.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import mpmath
import numpy as np

from adamspec.reference import steps
from adamspec.reference.floats import round_array, to_mpf_array
from adamspec.reference.hyper import CANONICAL, Hyper, Variant, require_handled

DEFAULT_PRECISION = 256  # bits; 200 is the floor the spec names (NUM-1)


@dataclass(frozen=True)
class State:
    """θ and the optimizer state of one parameter after ``t`` steps, exact (object arrays of mpf).

    ``t == 0`` means no step has run: m, v (and vmax) are then the zeros a first step
    creates (SPEC STATE-1).
    """

    theta: np.ndarray
    m: np.ndarray
    v: np.ndarray
    vmax: np.ndarray | None = None
    t: int = 0
    extras: dict = field(default_factory=dict, compare=False)

    @classmethod
    def fresh(cls, theta, amsgrad: bool = False) -> State:
        """A parameter before its first step: zero moments, t = 0."""
        th = to_mpf_array(theta)
        zeros = np.full(th.shape, mpmath.mpf(0), dtype=object)
        return cls(th, zeros.copy(), zeros.copy(), zeros.copy() if amsgrad else None, 0)

    @classmethod
    def from_floats(cls, theta, m, v, t: int, vmax=None) -> State:
        """An injected state (SPEC STATE-3), read exactly from binary floats."""
        if t < 0 or int(t) != t:
            raise ValueError(f"step count must be a non-negative integer, got {t!r}")
        th = to_mpf_array(theta)
        arrays = [to_mpf_array(a) for a in (m, v)]
        vm = None if vmax is None else to_mpf_array(vmax)
        for name, a in zip(("m", "v", "vmax"), (*arrays, vm)):
            if a is not None and a.shape != th.shape:
                raise ValueError(f"{name} has shape {a.shape}, theta has shape {th.shape}")
        return cls(th, arrays[0], arrays[1], vm, int(t))

    def rounded(self, fmt) -> dict[str, np.ndarray]:
        """θ, m, v, vmax rounded to a storage format (SPEC DT-3), as numpy arrays."""
        out = {name: round_array(getattr(self, name), fmt) for name in ("theta", "m", "v")}
        if self.vmax is not None:
            out["vmax"] = round_array(self.vmax, fmt)
        return out

    def as_float64(self) -> dict[str, np.ndarray]:
        return self.rounded("float64")


def _element_step(theta, g, m, v, vmax, t, h: Hyper, variant: Variant):
    """One element of SPEC AD-1, clause by clause."""
    g = steps.effective_gradient(g, theta, h)  # MAX-1, L2-1
    m = steps.first_moment(m, g, h)  # AD-2
    v = steps.second_moment(v, g, h)  # AD-3
    bc1, bc2 = steps.bias_corrections(t, h, variant)  # AD-4
    denom_v, corrected = v, False
    if h.amsgrad:  # AMS-1 / VAR-6: the maximum over v, or over v̂ (then stored corrected)
        candidate, corrected = steps.amsgrad_candidate(v, bc2, variant)
        vmax = steps.nan_max(vmax, candidate)
        denom_v = vmax
    u = steps.normalised_update(m, denom_v, bc1, bc2, h, variant, corrected)  # AD-5
    theta = steps.apply_update(theta, u, h, variant)  # AW-1, AD-6
    return theta, m, v, vmax


def step(
    state: State,
    grad,
    hyper: Hyper,
    variant: Variant = CANONICAL,
    precision: int = DEFAULT_PRECISION,
) -> State:
    """One optimizer step of one parameter. ``grad=None`` is an absent gradient (NOGRAD-1/2)."""
    if grad is None:
        return state
    require_handled("reference.steps", steps.HANDLED, variant)
    g = to_mpf_array(grad)
    if g.shape != state.theta.shape:
        raise ValueError(f"gradient has shape {g.shape}, parameter has shape {state.theta.shape}")
    if hyper.amsgrad and state.vmax is None:
        raise ValueError("amsgrad needs a vmax state (State.fresh(..., amsgrad=True))")
    t = state.t + 1  # AD-1: the count advances first; t = 1 on the first step (STATE-1)
    shape = g.shape
    outs = [np.empty(shape, dtype=object) for _ in range(4)]
    flats = [o.reshape(-1) for o in outs]
    vmax_in = state.vmax.reshape(-1) if state.vmax is not None else None
    th, gg, mm, vv = (a.reshape(-1) for a in (state.theta, g, state.m, state.v))
    with mpmath.workprec(precision):
        for i in range(g.size):
            res = _element_step(
                th[i], gg[i], mm[i], vv[i], None if vmax_in is None else vmax_in[i], t, hyper, variant
            )
            for flat, value in zip(flats, res):
                flat[i] = value
    vmax = outs[3] if hyper.amsgrad else state.vmax
    return State(outs[0], outs[1], outs[2], vmax, t)


def trajectory(
    state: State,
    grads: Sequence,
    hyper: Hyper,
    variant: Variant = CANONICAL,
    precision: int = DEFAULT_PRECISION,
) -> list[State]:
    """The exact states after each step of a gradient sequence (``None`` entries skip a step).

    This is the exact trajectory in real arithmetic. Conformance of a multi-step run
    re-bases every step on the implementation's own rounded state (SPEC NUM-5); that is
    ``step`` applied to ``State.from_floats`` of the implementation's output.
    """
    out = []
    for g in grads:
        state = step(state, g, hyper, variant, precision)
        out.append(state)
    return out


def max_relative_disagreement(a: State, b: State) -> mpmath.mpf:
    """Largest |a − b| / |b| over θ, m, v, vmax (0 where both are equal, inf where one is 0)."""
    worst = mpmath.mpf(0)
    for name in ("theta", "m", "v", "vmax"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None:
            continue
        for p, q in zip(x.reshape(-1), y.reshape(-1)):
            if mpmath.isnan(p) and mpmath.isnan(q):
                continue
            if p == q:
                continue
            if not (mpmath.isfinite(p) and mpmath.isfinite(q)) or q == 0:
                return mpmath.inf
            worst = max(worst, abs(p - q) / abs(q))
    return worst


class PrecisionError(ArithmeticError):
    """The reference could not certify its digits at the requested working precision."""


def checked_step(
    state: State,
    grad,
    hyper: Hyper,
    variant: Variant = CANONICAL,
    precision: int = DEFAULT_PRECISION,
    digits: int = 50,
) -> State:
    """``step`` with the precision self-check of SPEC NUM-1.

    The same step at twice the working precision must agree to well beyond ``digits``
    significant decimal digits; otherwise cancellation ate the margin and the result is
    refused rather than reported wrong.
    """
    needed_bits = int(digits * 3.3219280948873626) + 8  # log2(10) per digit, plus slack
    if precision < needed_bits:
        raise ValueError(f"{digits} digits need at least {needed_bits} bits, got {precision}")
    lo = step(state, grad, hyper, variant, precision)
    hi = step(state, grad, hyper, variant, 2 * precision)
    with mpmath.workprec(2 * precision):
        rel = max_relative_disagreement(lo, hi)
        limit = mpmath.ldexp(mpmath.mpf(1), -needed_bits)
    if rel > limit:
        raise PrecisionError(
            f"reference digits not certified: relative change {mpmath.nstr(rel, 3)} between "
            f"{precision} and {2 * precision} bits exceeds {mpmath.nstr(limit, 3)}"
        )
    return lo
