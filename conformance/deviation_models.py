"""Models of known deviations: what an excused failure must look like, checked on the run itself.

An entry keyed only by its inputs (``clause = "*"`` with ``zero_dim`` and ``storage``) would
excuse any failure on such an input, so a second bug on the same inputs would hide behind the
first. An entry with a ``model`` excuses a failure only when the offending parameter's steps in
that example are exactly what the deviation does (say, "θ, m and v come back bitwise as they
were while the count advances"); anything else on the same inputs is reported as a new failure.

A model sees what the implementation stored: the (case, trace) pairs the example executed
(``execute.recording``), the violation's parameter and step, and the adapter's capabilities.
Where it cannot find the step it is asked about (a failure with no executed trace, a relation
between two runs that names no parameter) it does not fit: an entry with a model never
excuses on trust.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mpmath
import numpy as np

from adamspec.adapters.base import ParamState
from adamspec.conformance.judge import fresh, judge_step
from adamspec.conformance.results import InputKind
from adamspec.reference import steps
from adamspec.reference.bound import C
from adamspec.reference.hyper import Hyper


@dataclass(frozen=True)
class Step:
    """One step of one parameter as the implementation took it."""

    before: ParamState
    grad: np.ndarray
    hyper: Hyper
    after: ParamState
    t: int  # the step count it should store


def _state(st: ParamState, name: str, shape) -> np.ndarray:
    """m, v or vmax as held before a step: zeros for a fresh parameter (STATE-1)."""
    value = None if fresh(st) else getattr(st, name)
    return np.zeros(shape) if value is None else np.asarray(value, dtype=np.float64)


def offending_steps(v, runs, fits: Callable[[InputKind], bool]) -> list[Step] | None:
    """The steps a violation is about, or None when they cannot be found: the violation's
    parameter (every parameter meeting the entry's conditions when it names none) at its step
    (every step with a gradient when it names none), in the traces of its case (all of the
    example's when its case was not executed itself)."""
    mine = [(c, tr) for c, tr in runs if c is v.case] or list(runs)
    out = []
    for case, trace in mine:
        for i, p in enumerate(case.params):
            if v.param is not None and i != v.param:
                continue
            lr_zero = any(h.lr == 0.0 for k in range(len(case.grads)) for h in case.hypers_at(k))
            if not fits(InputKind(case.dtype, np.ndim(p.init) == 0, p.layout, lr_zero)):
                if v.param is not None:
                    return None  # the named parameter is not the entry's kind of input
                continue
            for k, grads in enumerate(case.grads):
                if (v.index is not None and k != v.index) or grads[i] is None:
                    continue
                before, after = trace.snapshots[k][i], trace.snapshots[k + 1][i]
                t = (0 if fresh(before) else int(before.step)) + 1
                out.append(Step(before, np.asarray(grads[i]), case.hypers_at(k)[i], after, t))
    return out or None


def _bitwise(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def lost_update(s: Step, caps) -> bool:
    """θ, m, v (and vmax) stored bitwise as they were before the step, while the count advances
    to t (torch's compiled for-loop step on a 0-d float64 parameter)."""
    th = np.asarray(s.before.theta)
    if s.after.step != s.t or not _bitwise(s.after.theta, th):
        return False
    for name in ("m", "v", "vmax"):
        got = getattr(s.after, name)
        if name == "vmax" and not s.hyper.amsgrad:
            continue
        want = _state(s.before, name, th.shape).astype(th.dtype)
        if got is None or not _bitwise(np.asarray(got, dtype=th.dtype), want):
            return False
    return True


def nan_at_lr_zero(s: Step, caps) -> bool:
    """A step at lr = 0 that stores θ = NaN exactly where g = 0 and m = v = 0 before it, and
    leaves every other element of θ bitwise as it was (torch's compiled for-loop step: 0/0 in a
    step that eager code multiplies by lr = 0 first)."""
    if s.hyper.lr != 0.0:
        return False
    th = np.asarray(s.before.theta, dtype=np.float64)
    got = np.asarray(s.after.theta, dtype=np.float64)
    if got.shape != th.shape:
        return False
    silent = (np.asarray(s.grad, dtype=np.float64) == 0) & (_state(s.before, "m", th.shape) == 0) \
        & (_state(s.before, "v", th.shape) == 0)
    nan = np.isnan(got)
    kept = (got == th) & (np.signbit(got) == np.signbit(th))  # bitwise for a float64 view of θ
    return bool(nan.any()) and bool(np.all(silent[nan])) and bool(np.all(kept | nan))


def mirrored_lerp(s: Step, caps) -> bool:
    """m_t = m − β₁·(g − m) where the step needs m + (1 − β₁)·(g − m), at β₁ ≤ ½ (the branch of a
    lerp with weight 1 − β₁ ≥ ½ that starts from the wrong end), with v, vmax and the count
    right, and θ the spec's step from that m (torch's compiled foreach step, 0-d float64).

    Judged against the step's own bound: v and vmax as usual, m and θ against the mirrored
    values computed exactly from the stored inputs (the mirrored form has no more roundings than
    the lerp, and θ's bound already allows for m's error).
    """
    h = s.hyper
    if not 0.0 <= h.beta1 <= 0.5 or s.after.step != s.t:
        return False
    j = judge_step(s.before, s.grad, h, s.after, caps)
    if any(not bool(j.outputs[name].ok.all()) for name in ("v", "vmax") if name in j.outputs):
        return False
    th = np.asarray(s.before.theta, dtype=np.float64).reshape(-1)
    m0 = _state(s.before, "m", th.shape).reshape(-1)
    g = np.asarray(s.grad, dtype=np.float64).reshape(-1)
    m_got, v_got = (j.got[name].reshape(-1) for name in ("m", "v"))
    th_got = j.got["theta"].reshape(-1)
    denom = j.got["vmax"].reshape(-1) if h.amsgrad else v_got
    bm, bt = (C * j.bounds[name].reshape(-1) for name in ("m", "theta"))
    variant = caps.variant
    with mpmath.workprec(200):
        bc1, bc2 = steps.bias_corrections(s.t, h, variant)
        for i in range(th.size):
            ge = steps.effective_gradient(mpmath.mpf(g[i]), mpmath.mpf(th[i]), h)
            m_alt = mpmath.mpf(m0[i]) - mpmath.mpf(h.beta1) * (ge - mpmath.mpf(m0[i]))
            if not abs(m_got[i] - m_alt) <= bm[i]:
                return False
            u = steps.normalised_update(mpmath.mpf(m_got[i]), mpmath.mpf(denom[i]), bc1, bc2, h, variant)
            if not abs(th_got[i] - steps.apply_update(mpmath.mpf(th[i]), u, h, variant)) <= bt[i]:
                return False
    return True


MODELS: dict[str, Callable[[Step, object], bool]] = {
    "lost_update": lost_update,
    "nan_at_lr_zero": nan_at_lr_zero,
    "mirrored_lerp": mirrored_lerp,
}


def fits(model: str, v, runs, caps, inputs: Callable[[InputKind], bool]) -> bool:
    """Whether every step the violation is about is exactly what the model says."""
    found = offending_steps(v, runs, inputs)
    return found is not None and all(MODELS[model](s, caps) for s in found)

