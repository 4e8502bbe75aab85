"""Symmetries of the step: element independence (AD-8), scale invariance at ε = λ = 0 (AD-9),
sign symmetry at λ = 0 (AD-10), and a zero learning rate (AD-11).

Each transforms a drawn case (``_transform``), runs both, and checks the relation within the
two runs' bounds (``judge.both_within``) or exactly.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from adamspec.adapters.base import ParamState, UnsupportedCase
from adamspec.conformance import strategies as S
from adamspec.conformance.cases import Case, GroupCase, ParamCase
from adamspec.conformance.execute import execute
from adamspec.conformance.judge import both_within, judge_trace, same_up_to_zero_sign
from adamspec.conformance.registry import Violation, prop
from adamspec.conformance.variants import canonical_for


def _transform(case: Case, f_theta=None, f_g=None, f_m=None, f_v=None) -> Case:
    ident = lambda a: a  # noqa: E731
    f_theta, f_g, f_m, f_v = (f or ident for f in (f_theta, f_g, f_m, f_v))
    params = []
    for p in case.params:
        st_ = p.state
        if st_ is not None and st_.step:
            st_ = ParamState(f_theta(p.init), f_m(st_.m), f_v(st_.v),
                             None if st_.vmax is None else f_v(st_.vmax), st_.step)
        params.append(ParamCase(f_theta(p.init), p.layout, st_))
    groups, i = [], 0
    for g in case.groups:
        groups.append(GroupCase(g.hyper, tuple(params[i:i + len(g.params)])))
        i += len(g.params)
    grads = tuple(tuple(None if g is None else f_g(g) for g in step) for step in case.grads)
    return Case(tuple(groups), grads)


@prop("element_independence", ["AD-8"], "Permuting elements permutes the results",
      strategy=lambda caps: S.single_step_cases(caps, shapes=[(5,), (9,)]))
def element_independence(adapter, case, collector):
    n = case.params[0].init.size
    perm = np.roll(np.arange(n), 1)[::-1].copy()
    f = lambda a: np.asarray(a)[perm]  # noqa: E731
    permuted = _transform(case, f, f, f, f)
    judge_trace(adapter, permuted, execute(adapter, permuted), collector, theta_clause="AD-8")
    judge_trace(adapter, case, execute(adapter, case), collector, theta_clause="AD-8")


def _lambda_zero(caps, eps=None):
    mode = "adam" if "adam" in caps.modes else sorted(caps.modes)[0]
    return S.single_step_cases(caps, mode=mode, weight_decay=0.0, eps=eps)


@st.composite
def _scaled(draw, caps):
    case = draw(_lambda_zero(caps, eps=0.0))
    c = draw(st.sampled_from([0.25, 2.0, 1024.0]))  # powers of two: the scaled inputs stay exact
    return Case(case.groups, case.grads, args={"scale": c})


@prop("scale_invariance", ["AD-9"], "At ε = 0 and λ = 0 scaling g, m by c and v by c² leaves θ unchanged",
      strategy=_scaled,
      # at ε = 0 every placement is homogeneous in g but "root": its fixed ε_root inside the root
      # would have to scale by c² as well
      needs=canonical_for("eps_placement", eps_placement=["hat", "inside", "floor"]))
def scale_invariance(adapter, case, collector):
    c = float(case.args["scale"])
    p = case.params[0]
    scaled = [(case.grads[0][0], c)]
    if p.state is not None and p.state.step:
        scaled += [(p.state.m, c), (p.state.v, c * c)]
        if p.state.vmax is not None:
            scaled.append((p.state.vmax, c * c))
    for a, k in scaled:  # scaling must be exact (no overflow, no bits lost to underflow)
        with np.errstate(over="ignore"):
            back = (np.asarray(a, np.float64) * k).astype(np.asarray(a).dtype)
        if not np.array_equal(np.asarray(back, np.float64) / k, np.asarray(a, np.float64)):
            raise UnsupportedCase("scaling by c is not exact in the storage dtype for these inputs")
    s = lambda a: (np.asarray(a, np.float64) * c).astype(np.asarray(a).dtype)  # noqa: E731 - exact
    s2 = lambda a: (np.asarray(a, np.float64) * c * c).astype(np.asarray(a).dtype)  # noqa: E731
    scaled = _transform(case, None, s, s, s2)
    both_within(adapter, case, scaled, collector, f"scale invariance (c = {c})", lambda a: a, "AD-9")


@prop("sign_symmetry", ["AD-10"], "At λ = 0 negating θ, g and m negates the result",
      strategy=lambda caps: _lambda_zero(caps))
def sign_symmetry(adapter, case, collector):
    neg = lambda a: -np.asarray(a)  # noqa: E731
    flipped = _transform(case, neg, neg, neg, None)
    both_within(adapter, case, flipped, collector, "sign symmetry", lambda a: -a, "AD-10")


@prop("lr_zero", ["AD-11"], "lr = 0 leaves θ unchanged while the state advances",
      strategy=lambda caps: S.single_step_cases(caps, lr=0.0),
      # α = 0 stops θ only where the decay is scaled by α: VAR-3 "independent" decays by λ and
      # "scheduled" by η·λ, both independent of α; "corrected" by (α²/α_max)·λ, 0 at α = 0.
      needs=canonical_for("decay_scale", decay_scale=["corrected"]))
def lr_zero(adapter, case, collector):
    trace = execute(adapter, case)
    before, after = trace.snapshots[0][0], trace.snapshots[1][0]
    th0 = np.asarray(before.theta, np.float64)
    (j,) = judge_trace(adapter, case, trace, collector, theta_clause="AD-11")
    # 0·∞ is NaN: AD-11 holds while u is finite, and within the model (NUM-7: in binary16 a
    # tiny ε becomes 0 and 0/0 appears where the exact step has 0/ε).
    judged = np.isfinite(j.exact["theta"]) & ~j.outputs["theta"].exempt
    if not same_up_to_zero_sign(np.where(judged, th0, 0), np.where(judged, after.theta, 0)):
        collector.fail(Violation("lr = 0 changed θ", case, 0, None, clause="AD-11"))
