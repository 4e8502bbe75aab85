"""Non-finite values (NF-1 … NF-3, NUM-7): NaN and ±inf in the gradient, the state or the
parameter propagate as IEEE arithmetic on the exact step says, and nowhere else; AMSGrad's
maximum carries a NaN in v (AMS-1)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from adamspec.adapters.base import ParamState
from adamspec.conformance import strategies as S
from adamspec.conformance.cases import Case, GroupCase, ParamCase
from adamspec.conformance.execute import execute
from adamspec.conformance.judge import fresh, judge_trace
from adamspec.conformance.registry import prop
from adamspec.reference.hyper import Hyper


@st.composite
def _with_non_finite(draw, caps):
    case = draw(S.single_step_cases(caps, shapes=[(4,)]))
    (p,) = case.params
    bad = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    where = draw(st.sampled_from(["g", "m", "v", "theta"] if caps.state_injection else ["g", "theta"]))
    amsgrad = case.groups[0].hyper.amsgrad
    i = draw(st.integers(0, 3))
    g = np.array(case.grads[0][0], copy=True)
    theta = np.array(p.init, copy=True)
    state = p.state
    if where == "g":
        g[i] = bad
    elif where == "theta":
        theta[i] = bad
    else:
        t_prev = state.step if state is not None and state.step else 1
        m = np.zeros_like(theta) if state is None or state.m is None else np.array(state.m, copy=True)
        v = np.zeros_like(theta) if state is None or state.v is None else np.array(state.v, copy=True)
        (m if where == "m" else v)[i] = bad if where == "m" else abs(bad)
        vmax = None
        if amsgrad:  # AMS-1's maximum must propagate a NaN in v (fmax would drop it)
            with np.errstate(invalid="ignore"):
                vmax = v.copy() if state is None or state.vmax is None else np.maximum(np.array(state.vmax), v)
            vmax[i] = v[i] if np.isnan(v[i]) else vmax[i]
        state = ParamState(theta, m, v, vmax, t_prev)
    if state is not None and state.step:
        state = ParamState(theta, state.m, state.v, state.vmax, state.step)
    h = case.groups[0].hyper
    return Case((GroupCase(h, (ParamCase(theta, "contiguous", state),)),), ((g,),),
                note=f"non-finite {where}[{i}]")


def _non_finite_explicit(caps) -> list[Case]:
    """NaN in g, and (with AMSGrad) NaN in v: the maximum must carry it (AMS-1, NF-1, NF-2); and
    in every mode at λ = 0 an infinite or NaN θ, which a decay evaluated as g + 0·θ or θ − α·0·θ
    turns into NaN where the decay must be an identity (AD-13, NF-2)."""
    dtype = "float32" if "float32" in caps.dtypes else sorted(caps.dtypes)[0]
    dt = S.float_format(dtype).dtype
    mode = sorted(caps.modes)[-1]
    out = []
    for each in sorted(caps.modes):
        h = Hyper(lr=1e-3, weight_decay=0.0, mode=each)
        theta = np.array([np.inf, -np.inf, np.nan, 1.0], dt)
        out.append(Case((GroupCase(h, (ParamCase(theta),)),), ((np.array([0.5, -0.5, 1.0, 2.0], dt),),),
                        note=f"explicit: non-finite θ at λ = 0, mode {each}"))
    for amsgrad in ([False, True] if caps.amsgrad else [False]):
        h = Hyper(lr=1e-3, weight_decay=0.01 if mode != "adam" else 0.0, mode=mode, amsgrad=amsgrad)
        theta = np.array([1.0, -2.0, 0.5, 3.0], dt)
        g = np.array([np.nan, 0.25, -1.0, np.inf], dt)
        out.append(Case((GroupCase(h, (ParamCase(theta),)),), ((g,),), note="explicit: non-finite g"))
        if amsgrad and caps.state_injection:
            v = np.array([np.nan, 1.0, 0.5, 2.0], dt)
            state = ParamState(theta, np.full(4, 0.1, dt), v, np.ones(4, dt), 5)
            out.append(Case((GroupCase(h, (ParamCase(theta, "contiguous", state),)),),
                            ((np.full(4, 0.5, dt),),), note="explicit: NaN in v under AMSGrad"))
    return out


@prop("non_finite", ["NF-1", "NF-2", "NF-3", "NUM-7", "AMS-1"],
      "NaN and ±inf in gradients, state or parameters propagate as IEEE arithmetic says",
      strategy=_with_non_finite, explicit=_non_finite_explicit)
def non_finite(adapter, case, collector):
    judge_trace(adapter, case, execute(adapter, case), collector, "the IEEE result of the exact step",
                clause_of=_non_finite_clause)


def _non_finite_clause(name, flats, before: ParamState, grad) -> np.ndarray:
    """NF-1 where the element's gradient is non-finite, NF-2 where its θ or state is, NF-3 where
    all its inputs are finite (a neighbour's value leaked in); the maximum itself is AMS-1's."""
    if name == "vmax":
        return np.full(len(flats), "AMS-1")

    def bad(a):
        return np.zeros(len(flats), bool) if a is None else ~np.isfinite(np.asarray(a, np.float64).reshape(-1)[flats])

    state = bad(before.theta)
    if not fresh(before):
        for a in (before.m, before.v, before.vmax):
            state |= bad(a)
    return np.where(bad(grad), "NF-1", np.where(state, "NF-2", "NF-3"))
