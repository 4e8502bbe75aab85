"""Weight decay under a zero gradient: AdamW's is uniform (AW-3), coupled L2's depends on v (L2-3)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import strategies as st

from adamspec.adapters.base import ParamState
from adamspec.conformance import strategies as S
from adamspec.conformance.cases import Case, GroupCase, ParamCase
from adamspec.conformance.execute import execute
from adamspec.conformance.judge import judge_trace
from adamspec.conformance.registry import Violation, needs_flag, needs_mode, prop
from adamspec.reference.bound import C


@st.composite
def _zero_grad_zero_m(draw, caps, mode):
    base = draw(S.single_step_cases(caps, mode=mode, amsgrad=False,
                                    weight_decay=draw(st.sampled_from(S.WD))
                                    if mode != "adam" else 0.0,
                                    eps=draw(st.sampled_from([1e-8, 1e-3, 1.0]))))
    (p,) = base.params
    h = base.groups[0].hyper
    if h.lr * h.weight_decay > 0.5:
        h = replace(h, lr=0.5 / h.weight_decay)
    dtype = S.float_format(p.init.dtype).name
    shape = p.init.shape
    t_prev = draw(S.steps_before(caps)) if caps.state_injection else 0
    zeros = np.zeros(shape, p.init.dtype)
    state = None
    if t_prev:
        elo, ehi = S.EXPONENTS[dtype]
        v = draw(S.arrays(dtype, shape, S.elements(dtype, 2 * elo, 2 * ehi, nonneg=True)))
        state = ParamState(p.init, zeros, v, None, t_prev)
    return Case((GroupCase(h, (ParamCase(p.init, "contiguous", state),)),), ((zeros.copy(),),))


@prop("uniform_decay", ["AW-3"], "AdamW with g = 0 and m = 0 multiplies θ by (1 − α·λ) whatever v and t",
      strategy=lambda caps: _zero_grad_zero_m(caps, "adamw"), needs=needs_mode("adamw"))
def uniform_decay(adapter, case, collector):
    judge_trace(adapter, case, execute(adapter, case), collector, "(1 − α·λ)·θ", theta_clause="AW-3")


@st.composite
def _l2_pairs(draw, caps):
    """Two elements with the same θ and different v: the one with larger v must decay less."""
    dtype = draw(S.dtypes(caps))
    h = draw(S.hypers(caps, mode="adam_l2", amsgrad=False, maximize=False,
                      weight_decay=draw(st.sampled_from([0.01, 0.1, 0.5])), lr=0.1,
                      eps=draw(st.sampled_from([1e-8, 1e-6]))))
    h = replace(h, beta2=draw(st.sampled_from([0.9, 0.999])))
    t_prev = draw(st.sampled_from([1, 10, 1000])) if caps.state_injection else 0
    theta = S.cast(draw(S.signed(S.magnitudes("float64", -1, 1))), dtype)
    lo = draw(st.floats(-8, -4))
    v = S.cast([10.0**lo, 10.0 ** (lo + 3)], dtype)
    th = np.full(2, theta)
    zeros = np.zeros(2, th.dtype)
    state = ParamState(th, zeros, v, None, t_prev) if t_prev else None
    return Case((GroupCase(h, (ParamCase(th, "contiguous", state),)),), ((zeros.copy(),),))


@prop("l2_coupling", ["L2-3"],
      "Adam+L2 with g = 0: the decay factor follows the v-dependent prediction; larger v decays less",
      strategy=_l2_pairs, needs=lambda caps: needs_mode("adam_l2")(caps) or needs_flag(
          "state_injection", "state injection")(caps))
def l2_coupling(adapter, case, collector):
    trace = execute(adapter, case)
    (j,) = judge_trace(adapter, case, trace, collector, "the coupled L2 prediction", theta_clause="L2-3")
    before, after = trace.snapshots[0][0], trace.snapshots[1][0]
    th0 = np.asarray(before.theta, np.float64)
    factors = np.asarray(after.theta, np.float64) / th0
    exact = j.exact["theta"] / th0
    slack = C * j.bounds["theta"] / np.abs(th0)
    # Larger v (element 1) decays less — judged only where the exact factors differ by
    # more than both elements' bounds, so rounding cannot decide it.
    if exact[1] - exact[0] > slack[0] + slack[1] and not factors[1] > factors[0]:
        collector.fail(Violation(f"decay factors {factors[0]!r} (small v) and {factors[1]!r} (large v): "
                                 "the larger v did not decay less", case, 0, None, clause="L2-3"))
    # "differs from 1 − α·λ" is a fact of the exact prediction; an implementation that decays
    # uniformly instead fails the agreement above wherever the two differ by more than C·B.
