"""The properties, one per clause or clause group (SPEC "Checked by:" names them).

Each draws its cases from the adapter's capability record, runs them through the adapter,
and compares with the exact reference within the derived bound, or checks an exact
(bitwise) claim where the spec makes one.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import numpy as np
from hypothesis import strategies as st

from adamspec.adapters.base import NotApplicable, ParamState, UnsupportedCase
from adamspec.conformance import strategies as S
from adamspec.conformance.cases import Case, GroupCase, ParamCase
from adamspec.conformance.execute import execute
from adamspec.conformance.judge import judge_step
from adamspec.conformance.must_reject import MUST_REJECT, MUST_REJECT_BY_NAME
from adamspec.conformance.registry import Row, Violation, prop
from adamspec.conformance.results import Element
from adamspec.reference.bound import C
from adamspec.reference.hyper import Hyper

# --- shared checking ------------------------------------------------------------------


def _fresh(st_: ParamState) -> bool:
    return st_.step is None or st_.step == 0


# The order in which a step produces its stored outputs. An element that fails in several is
# filed under the earliest: a wrong m makes θ wrong too, and the clause refuted is m's.
_DATAFLOW = ("m", "v", "vmax", "theta")
_OUTPUT_CLAUSE = {"m": "AD-2", "v": "AD-3", "vmax": "AMS-1"}


def _elements(judgement, before: ParamState, grad, param: int, picks, limit: int = 3) -> tuple[Element, ...]:
    """The worst of the picked (output, flat indices) of a judgement, with their inputs (TestFloat-style)."""
    out = []
    for name, flats in picks:
        meas = judgement.outputs[name]
        order = flats[np.argsort(-np.nan_to_num(meas.fraction.reshape(-1)[flats], nan=np.inf))]
        for flat in order[:limit]:
            idx = np.unravel_index(flat, np.shape(before.theta)) if np.ndim(before.theta) else ()
            inputs = {"theta": float(np.asarray(before.theta, np.float64).reshape(-1)[flat]),
                      "g": float(np.asarray(grad, np.float64).reshape(-1)[flat])}
            for k in ("m", "v", "vmax"):
                a = getattr(before, k)
                inputs[k] = 0.0 if _fresh(before) or a is None else float(
                    np.asarray(a, np.float64).reshape(-1)[flat])
            exact = judgement.exact[name].reshape(-1)[flat]
            out.append(Element(
                output=name, index=tuple(int(i) for i in idx), param=param, inputs=inputs,
                expected=float(exact), expected_digits=judgement.digits(name, flat),
                bound=float(C * judgement.bounds[name].reshape(-1)[flat]),
                got=float(judgement.got[name].reshape(-1)[flat]),
                ulps=float(meas.ulps.reshape(-1)[flat]), fraction=float(meas.fraction.reshape(-1)[flat]),
            ))
        if len(out) >= limit:
            break
    return tuple(out[:limit])


def _refuted(judgement, clause_of) -> dict[str, list[tuple[str, np.ndarray]]]:
    """The failing elements of one judgement grouped by the clause each refutes."""
    taken = None
    by_clause: dict[str, list[tuple[str, np.ndarray]]] = {}
    for name in _DATAFLOW:
        meas = judgement.outputs.get(name)
        if meas is None:
            continue
        bad = ~meas.ok.reshape(-1)
        if taken is not None:
            bad &= ~taken
        taken = bad if taken is None else taken | bad
        flats = np.flatnonzero(bad)
        if not flats.size:
            continue
        clauses = np.asarray(clause_of(name, flats))
        for clause in dict.fromkeys(clauses.tolist()):
            by_clause.setdefault(clause, []).append((name, flats[clauses == clause]))
    return by_clause


def judge_trace(adapter, case: Case, trace, collector, what: str = "the exact step", *,
                theta_clause: str = "AD-1", clause_of=None) -> list:
    """Every step of every parameter with a gradient within C·B of the exact step (re-based).

    Each failure names the clause it refutes: m → AD-2, v → AD-3, vmax → AMS-1, θ →
    ``theta_clause``, or what ``clause_of(output, flat indices, before, grad)`` says. Returns
    the judgements, so that a property's own checks need not judge the same step again.
    """
    caps = adapter.capabilities
    hypers = case.hypers
    judgements = []
    for k, grads in enumerate(case.grads):
        before_all, after_all = trace.snapshots[k], trace.snapshots[k + 1]
        for i, g in enumerate(grads):
            if g is None:
                continue
            before, after = before_all[i], after_all[i]
            _check_shapes(case, after, before, i, k, collector)
            t = (0 if _fresh(before) else before.step) + 1
            if after.step != t:  # STATE-2: exactly one per step with a gradient
                collector.fail(Violation(f"after step {k + 1} parameter {i} holds step = {after.step!r}, "
                                         f"expected {t}", case, i, t, clause="STATE-2"))
            j = judge_step(before, g, hypers[i], after, caps)
            judgements.append(j)
            collector.observe(j)
            if j.ok:
                continue

            for clause, picks in _refuted(j, partial(_clause_for, theta_clause, clause_of, before, g)).items():
                names = ", ".join(name for name, _ in picks)
                verb = "differs" if len(picks) == 1 else "differ"
                collector.fail(Violation(
                    f"step {k + 1} (t = {t}) of parameter {i}: {names} {verb} from {what} by more than C·B",
                    case, i, t, _elements(j, before, g, i, picks), clause=clause))
    return judgements


def _clause_for(theta_clause: str, clause_of, before: ParamState, grad, name: str, flats: np.ndarray):
    """The clause each failing element of output ``name`` refutes (judge_trace's docstring)."""
    if clause_of is not None:
        return clause_of(name, flats, before, grad)
    return [_OUTPUT_CLAUSE.get(name, theta_clause)] * len(flats)


def _check_shapes(case, after: ParamState, before: ParamState, i: int, k: int, collector) -> None:
    for name in ("theta", "m", "v"):
        a = getattr(after, name)
        if a is None or np.shape(a) != np.shape(before.theta):
            collector.fail(Violation(f"after step {k + 1}, parameter {i}'s {name} has shape "
                                     f"{None if a is None else np.shape(a)}, expected {np.shape(before.theta)}",
                                     case, i, None, clause="STATE-4"))


def _same_bits(a, b) -> bool:
    """Bitwise equality with NaN payloads ignored and +0/−0 kept distinct."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    fa, fb = a.astype(np.float64), b.astype(np.float64)
    both_nan = np.isnan(fa) & np.isnan(fb)
    return bool(np.all(both_nan | ((fa == fb) & (np.signbit(fa) == np.signbit(fb)))))


def _same_up_to_zero_sign(a, b) -> bool:
    fa, fb = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return fa.shape == fb.shape and bool(np.all((fa == fb) | (np.isnan(fa) & np.isnan(fb))))


def _needs(flag: str, what: str):
    return lambda caps: None if getattr(caps, flag) else f"the adapter declares no {what}"


def _needs_mode(mode: str):
    return lambda caps: None if mode in caps.modes else f"the adapter does not implement mode {mode}"


# --- agreement with the exact reference -------------------------------------------------


@prop("agreement_one_step",
      ["AD-1", "AD-2", "AD-3", "AD-4", "AD-5", "AD-6", "L2-1", "L2-2", "AW-1", "AW-2", "AW-4",
       "AMS-1", "MAX-1", "NUM-2", "NUM-3", "DT-2", "DT-3", "DT-4", "VAR-1", "VAR-2", "VAR-3", "VAR-4",
       "VAR-5", "VAR-6", "STATE-3", "API-1", "API-2", "API-3"],
      "One step from any injected state agrees with the exact reference",
      strategy=lambda caps: S.single_step_cases(caps))
def agreement_one_step(adapter, case, collector):
    judge_trace(adapter, case, execute(adapter, case), collector)


@prop("agreement_trajectory", ["NUM-5", "STATE-2"],
      "Trajectories of up to 100 steps from fresh state agree step by step",
      strategy=lambda caps: S.trajectory_cases(caps), cost=4.0)
def agreement_trajectory(adapter, case, collector):
    judge_trace(adapter, case, execute(adapter, case), collector)


# --- the headline invariants ---------------------------------------------------------------


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
      strategy=lambda caps: _zero_grad_zero_m(caps, "adamw"), needs=_needs_mode("adamw"))
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
      strategy=_l2_pairs, needs=lambda caps: _needs_mode("adam_l2")(caps) or _needs(
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


@st.composite
def _first_steps(draw, caps):
    # Non-empty tensors, and g ≠ 0 somewhere: AD-7 is about the size of the first step.
    return draw(S.single_step_cases(caps, injected=False, shapes=[(1,), (3,), (5,), (2, 3)],
                                    mode="adam" if "adam" in caps.modes else None,
                                    weight_decay=0.0).filter(lambda c: np.any(c.grads[0][0] != 0)))


@prop("first_step", ["AD-7", "STATE-1"],
      "From zero state at t = 1 with λ = 0: Δθ = −α·g/(|g| + ε), so |Δθ| ≤ α",
      strategy=_first_steps)
def first_step(adapter, case, collector):
    trace = execute(adapter, case)
    (j,) = judge_trace(adapter, case, trace, collector, "−α·g/(|g| + ε)", theta_clause="AD-7")
    after = trace.snapshots[1][0]
    if after.step != 1:
        collector.fail(Violation(f"the first step stored step = {after.step!r}, not 1", case, 0, 1,
                                 clause="STATE-1"))
    h = case.hypers[0]
    delta = np.abs(np.asarray(after.theta, np.float64) - np.asarray(case.params[0].init, np.float64))
    over = delta > h.lr + C * j.bounds["theta"]
    if np.any(over & np.isfinite(delta)):
        collector.fail(Violation(f"|Δθ| = {float(delta[over].max())!r} exceeds α = {h.lr!r}", case, 0, 1,
                                 clause="AD-7"))


@st.composite
def _modes_case(draw, caps):
    return draw(S.trajectory_cases(caps, max_steps=8, weight_decay=0.0,
                                   mode=sorted(caps.modes)[0]))


@prop("modes_coincide", ["AD-13", "GRP-3"],
      "With λ = 0 the modes the adapter implements give identical trajectories",
      strategy=_modes_case,
      needs=lambda caps: None if len(caps.modes) > 1 else "the adapter implements a single mode")
def modes_coincide(adapter, case, collector):
    results = []
    for mode in sorted(adapter.capabilities.modes):
        c = _with_hyper(case, mode=mode)
        results.append(execute(adapter, c).snapshots[-1][0])
    for other, mode in zip(results[1:], sorted(adapter.capabilities.modes)[1:]):
        for name in ("theta", "m", "v"):
            if not _same_up_to_zero_sign(getattr(results[0], name), getattr(other, name)):
                collector.fail(Violation(f"with λ = 0, mode {mode} stored a different {name} than mode "
                                         f"{sorted(adapter.capabilities.modes)[0]}", case, 0, None,
                                         clause="AD-13"))


def _with_hyper(case: Case, **changes) -> Case:
    groups = tuple(GroupCase(replace(g.hyper, **changes), g.params) for g in case.groups)
    return Case(groups, case.grads, case.note)


# --- state and the step counter ----------------------------------------------------------


@st.composite
def _large_counts(draw, caps):
    top = 10**7 if caps.max_step is None else caps.max_step - 1
    t_prev = draw(st.one_of(st.integers(10**5, top), st.sampled_from([top, 2**20 + 1])))
    case = draw(S.single_step_cases(caps, shapes=[(3,)]))
    (p,) = case.params
    h = case.groups[0].hyper
    dtype = case.dtype
    st_ = draw(S.param_state(dtype, p.init.shape, h, t_prev))
    state = ParamState(p.init, st_.m, st_.v, st_.vmax, t_prev)
    return Case((GroupCase(h, (ParamCase(p.init, "contiguous", state),)),), case.grads)


@prop("step_counter", ["STATE-5", "API-4"], "Large injected step counts continue exactly (t = t_prev + 1)",
      strategy=_large_counts, needs=_needs("state_injection", "state injection"))
def step_counter(adapter, case, collector):
    trace = execute(adapter, case)
    t_prev = case.params[0].state.step
    after = trace.snapshots[1][0]
    if after.step != t_prev + 1:
        collector.fail(Violation(f"after a step from t = {t_prev} the implementation holds step = "
                                 f"{after.step!r}", case, 0, t_prev + 1, clause="STATE-5"))
    judge_trace(adapter, case, trace, collector)


@prop("amsgrad_monotone", ["AMS-2", "AMS-3"],
      "With AMSGrad, vmax starts at 0, is stored, and never decreases",
      strategy=lambda caps: S.trajectory_cases(caps, max_steps=12, amsgrad=True),
      needs=_needs("amsgrad", "AMSGrad"), cost=2.0)
def amsgrad_monotone(adapter, case, collector):
    trace = execute(adapter, case)
    prev = None
    for k, snap in enumerate(trace.snapshots[1:], start=1):
        vmax = snap[0].vmax
        if vmax is None:
            collector.fail(Violation(f"no vmax (max_exp_avg_sq) stored after step {k}", case, 0, k,
                                     clause="AMS-3"))
            continue
        vm = np.asarray(vmax, np.float64)
        if prev is not None and np.any(vm < prev):
            collector.fail(Violation(f"vmax decreased at step {k}: {float(np.min(vm - prev))!r}", case, 0, k,
                                     clause="AMS-2"))
        prev = vm
    judge_trace(adapter, case, trace, collector)


@st.composite
def _maximize_pairs(draw, caps):
    return draw(S.trajectory_cases(caps, max_steps=4, maximize=False))


@prop("maximize_negates", ["MAX-2"], "maximize with g is bitwise minimize with −g",
      strategy=_maximize_pairs, needs=_needs("maximize", "maximize"))
def maximize_negates(adapter, case, collector):
    up = _with_hyper(case, maximize=True)
    down = Case(case.groups, tuple(tuple(None if g is None else -g for g in step) for step in case.grads))
    a, b = execute(adapter, up).snapshots[-1][0], execute(adapter, down).snapshots[-1][0]
    for name in ("theta", "m", "v"):
        if not _same_bits(getattr(a, name), getattr(b, name)):
            collector.fail(Violation(f"maximize=True with g and maximize=False with −g stored different {name}",
                                     case, 0, None, clause="MAX-2"))


# --- groups and parameters without gradients -----------------------------------------------


@st.composite
def _two_groups(draw, caps):
    dtype = draw(S.dtypes(caps))
    mode = draw(st.sampled_from(sorted(caps.modes)))
    h1 = draw(S.hypers(caps, mode=mode))
    h2 = draw(S.hypers(caps, mode=mode, amsgrad=h1.amsgrad))
    if mode != "adam":
        h2 = replace(h2, weight_decay=0.0)  # GRP-3: a group without decay (biases)
    if h1 == h2:
        h2 = replace(h2, lr=h1.lr / 2)
    shapes = draw(st.lists(st.sampled_from([(3,), (5,), (2, 2), (1,)]), min_size=3, max_size=3))
    thetas = [draw(S.arrays(dtype, s, S.theta_values(dtype, h1))) for s in shapes]
    n_steps = draw(st.integers(1, 3))
    grads = tuple(tuple(draw(S.arrays(dtype, s, S.elements(dtype, -3, 1))) for s in shapes)
                  for _ in range(n_steps))
    groups = (GroupCase(h1, (ParamCase(thetas[0]), ParamCase(thetas[1]))),
              GroupCase(h2, (ParamCase(thetas[2]),)))
    return Case(groups, grads)


@prop("groups", ["GRP-1", "GRP-2", "API-5"],
      "Each parameter group's hyperparameters apply to its own parameters only",
      strategy=_two_groups, needs=_needs("groups", "parameter groups"), cost=2.0)
def groups(adapter, case, collector):
    judge_trace(adapter, case, execute(adapter, case), collector,
                "the step with its own group's hyperparameters")


@st.composite
def _some_without_grad(draw, caps):
    dtype = draw(S.dtypes(caps))
    h = draw(S.hypers(caps, weight_decay=0.1 if "adam" not in caps.modes else None))
    if h.mode.value == "adam":
        h = replace(h, weight_decay=0.0)
    thetas = [draw(S.arrays(dtype, (3,), S.elements(dtype, -2, 1, zero=False))) for _ in range(2)]
    n = draw(st.integers(2, 4))
    # Parameter 0 has no gradient on some steps (None), parameter 1 a zero gradient on some.
    pattern = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    pattern[0] = False  # parameter 0 starts without a gradient: no state may be created
    grads = []
    for k in range(n):
        g0 = draw(S.arrays(dtype, (3,), S.elements(dtype, -3, 0))) if pattern[k] else None
        g1 = (np.zeros(3, thetas[1].dtype) if k % 2 == 0
              else draw(S.arrays(dtype, (3,), S.elements(dtype, -3, 0))))
        grads.append((g0, g1))
    return Case((GroupCase(h, (ParamCase(thetas[0]), ParamCase(thetas[1]))),), tuple(grads))


@prop("no_gradient", ["NOGRAD-1", "NOGRAD-2", "NOGRAD-3", "STATE-2"],
      "A parameter without gradient is skipped: not decayed, state not created or advanced",
      strategy=_some_without_grad)
def no_gradient(adapter, case, collector):
    trace = execute(adapter, case)
    for k, grads in enumerate(case.grads):
        before, after = trace.snapshots[k][0], trace.snapshots[k + 1][0]
        if grads[0] is None:
            if not _same_bits(before.theta, after.theta):
                collector.fail(Violation(f"parameter 0 has no gradient at step {k + 1} but θ changed", case, 0,
                                         None, clause="NOGRAD-1"))
            if _fresh(before):
                if not (after.step is None or after.step == 0):
                    collector.fail(Violation(f"parameter 0 has never had a gradient, yet state step = "
                                             f"{after.step!r} exists after step {k + 1}", case, 0, None,
                                             clause="NOGRAD-2"))
            else:
                for name in ("m", "v", "vmax", "step"):
                    b, a = getattr(before, name), getattr(after, name)
                    same = (b == a) if name == "step" else (b is None and a is None) or (
                        b is not None and a is not None and _same_bits(b, a))
                    if not same:
                        collector.fail(Violation(f"parameter 0 has no gradient at step {k + 1} but its {name} "
                                                 "changed", case, 0, None, clause="NOGRAD-2"))
        zero_steps = sum(1 for gs in case.grads[:k + 1] if gs[1] is not None)
        if trace.snapshots[k + 1][1].step != zero_steps:
            collector.fail(Violation(f"parameter 1 (zero gradient on some steps) has step = "
                                     f"{trace.snapshots[k + 1][1].step!r} after {zero_steps} steps", case, 1,
                                     None, clause="NOGRAD-3"))
    judge_trace(adapter, case, trace, collector)


# --- inputs ----------------------------------------------------------------------------------


@prop("gradient_untouched", ["MUT-1"], "The gradient is read-only: bitwise unchanged by the step",
      strategy=lambda caps: S.single_step_cases(caps),
      needs=lambda caps: None)
def gradient_untouched(adapter, case, collector):
    trace = execute(adapter, case)
    if trace.grads_after is None:
        raise NotApplicable("the adapter's session does not expose its gradients (grads_after)")
    for k, (given_, held) in enumerate(zip(case.grads, trace.grads_after)):
        for i, (g, h) in enumerate(zip(given_, held)):
            if g is not None and not _same_bits(g, h):
                collector.fail(Violation(f"parameter {i}'s gradient changed during step {k + 1}", case, i, None,
                                         clause="MUT-1"))


@prop("in_place", ["MUT-2"], "The parameter is updated in place",
      strategy=lambda caps: S.single_step_cases(caps, shapes=[(3,), (2, 3)]))
def in_place(adapter, case, collector):
    trace = execute(adapter, case)
    if trace.in_place is None:
        raise NotApplicable("the adapter's session cannot tell (updated_in_place)")
    for k, flags in enumerate(trace.in_place):
        for i, ok in enumerate(flags):
            if not ok:
                collector.fail(Violation(f"parameter {i} was replaced, not updated in place, at step {k + 1}",
                                         case, i, None, clause="MUT-2"))


@prop("determinism", ["AD-12"], "Identical inputs give bitwise identical results",
      strategy=lambda caps: S.trajectory_cases(caps, max_steps=4))
def determinism(adapter, case, collector):
    a, b = execute(adapter, case).snapshots[-1], execute(adapter, case).snapshots[-1]
    for i, (x, y) in enumerate(zip(a, b)):
        for name in ("theta", "m", "v"):
            if not _same_bits(getattr(x, name), getattr(y, name)):
                collector.fail(Violation(f"two identical runs stored different {name} for parameter {i}",
                                         case, i, None, clause="AD-12"))


# --- symmetries ------------------------------------------------------------------------------


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


def _both_within(adapter, case_a, case_b, collector, relation: str, same, clause: str) -> None:
    """Run both cases, judge each, and check ``same(θa, θb)`` within the two bounds."""
    ta, tb = execute(adapter, case_a), execute(adapter, case_b)
    (ja,) = judge_trace(adapter, case_a, ta, collector)
    (jb,) = judge_trace(adapter, case_b, tb, collector)
    a, b = np.asarray(ta.snapshots[1][0].theta, np.float64), np.asarray(tb.snapshots[1][0].theta, np.float64)
    with np.errstate(invalid="ignore"):  # inf − inf where both runs overflowed alike
        gap = np.abs(same(a) - b)
    slack = C * (ja.bounds["theta"] + jb.bounds["theta"])  # each run may sit at its own bound
    bad = np.isfinite(gap) & (gap > slack) & ~ja.outputs["theta"].exempt & ~jb.outputs["theta"].exempt
    if np.any(bad):
        collector.fail(Violation(f"{relation} fails by {float(np.max(gap[bad]))!r} "
                                 f"(the two bounds allow {float(slack[bad].max())!r})", case_a, 0, None,
                                 clause=clause))


@st.composite
def _scaled(draw, caps):
    case = draw(_lambda_zero(caps, eps=0.0))
    c = draw(st.sampled_from([0.25, 2.0, 1024.0]))  # powers of two: the scaled inputs stay exact
    return Case(case.groups, case.grads, note=f"scale={c!r}")


@prop("scale_invariance", ["AD-9"], "At ε = 0 and λ = 0 scaling g, m by c and v by c² leaves θ unchanged",
      strategy=_scaled)
def scale_invariance(adapter, case, collector):
    c = float(case.note.removeprefix("scale="))
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
    _both_within(adapter, case, scaled, collector, f"scale invariance (c = {c})", lambda a: a, "AD-9")


@prop("sign_symmetry", ["AD-10"], "At λ = 0 negating θ, g and m negates the result",
      strategy=lambda caps: _lambda_zero(caps))
def sign_symmetry(adapter, case, collector):
    neg = lambda a: -np.asarray(a)  # noqa: E731
    flipped = _transform(case, neg, neg, neg, None)
    _both_within(adapter, case, flipped, collector, "sign symmetry", lambda a: -a, "AD-10")


@prop("lr_zero", ["AD-11"], "lr = 0 leaves θ unchanged while the state advances",
      strategy=lambda caps: S.single_step_cases(caps, lr=0.0))
def lr_zero(adapter, case, collector):
    trace = execute(adapter, case)
    before, after = trace.snapshots[0][0], trace.snapshots[1][0]
    th0 = np.asarray(before.theta, np.float64)
    (j,) = judge_trace(adapter, case, trace, collector, theta_clause="AD-11")
    # 0·∞ is NaN: AD-11 holds while u is finite, and within the model (NUM-7: in binary16 a
    # tiny ε becomes 0 and 0/0 appears where the exact step has 0/ε).
    judged = np.isfinite(j.exact["theta"]) & ~j.outputs["theta"].exempt
    if not _same_up_to_zero_sign(np.where(judged, th0, 0), np.where(judged, after.theta, 0)):
        collector.fail(Violation("lr = 0 changed θ", case, 0, None, clause="AD-11"))


# --- validation ------------------------------------------------------------------------------


def _must_reject_rows(caps) -> list[Row]:
    return [Row(r.name, Case((), (), note=f"must_reject={r.name}")) for r in MUST_REJECT]


@prop("validation", ["VAL-1", "VAL-2", "VAL-3", "VAL-4", "VAL-5"],
      "Bad hyperparameters raise a clear error at construction (every row of a must-reject table)",
      rows=_must_reject_rows)
def validation(adapter, case, collector):
    construct = getattr(adapter, "construct", None)
    if construct is None:
        raise NotApplicable("the adapter cannot construct its optimizer from raw hyperparameters")
    row = MUST_REJECT_BY_NAME[case.note.removeprefix("must_reject=")]
    try:
        construct(**row.kwargs())
    except Exception as exc:  # any exception type; its message must name the culprit
        msg = str(exc).lower()
        if not any(w.lower() in msg for w in row.words):
            collector.fail(Violation(f"{row.name} raised {type(exc).__name__}({str(exc)!r}), which names "
                                     "neither the hyperparameter nor its value", case, None,
                                     clause="VAL-5", row=row.name))
        return
    collector.fail(Violation(f"construction with {row.name} was accepted ({row.clause} requires an error)",
                             case, None, clause=row.clause, row=row.name))


# --- non-finite values ------------------------------------------------------------------------


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
    """NaN in g, and (with AMSGrad) NaN in v: the maximum must carry it (AMS-1, NF-1, NF-2)."""
    dtype = "float32" if "float32" in caps.dtypes else sorted(caps.dtypes)[0]
    dt = S.float_format(dtype).dtype
    mode = sorted(caps.modes)[-1]
    out = []
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
    if not _fresh(before):
        for a in (before.m, before.v, before.vmax):
            state |= bad(a)
    return np.where(bad(grad), "NF-1", np.where(state, "NF-2", "NF-3"))


# --- shapes, layouts, dtypes --------------------------------------------------------------------

BIG_SHAPES = [(65537,), (2**16 + 3,), (257, 3), (1025,), (129,)]


@st.composite
def _shapes_layouts(draw, caps):
    dtype = draw(S.dtypes(caps))
    h = draw(S.hypers(caps))
    shapes = draw(st.lists(st.sampled_from([(), (1,), (0,), (5,), (4, 3), (3, 5), *BIG_SHAPES]),
                           min_size=1, max_size=3))
    params, grads = [], []
    for shape in shapes:
        layouts = ["contiguous", "strided"] + (["transposed"] if len(shape) == 2 else [])
        layout = draw(st.sampled_from(layouts))
        theta = draw(S.arrays(dtype, shape, S.theta_values(dtype, h)))
        params.append(ParamCase(theta, layout))
        grads.append(draw(S.arrays(dtype, shape, S.elements(dtype, -3, 1))))
    second = tuple(g[::-1].copy() if g.ndim else g for g in grads)  # a second, different step
    return Case((GroupCase(h, tuple(params)),), (tuple(grads), second))


def _shapes_explicit(caps) -> list[Case]:
    """One tensor just past a 65,536-element chunk, one strided, one 0-d and one empty in one group."""
    dtype = "float32" if "float32" in caps.dtypes else sorted(caps.dtypes)[0]
    dt = S.float_format(dtype).dtype
    mode = sorted(caps.modes)[-1]
    h = Hyper(lr=1e-2, weight_decay=0.1 if mode != "adam" else 0.0, mode=mode)
    rng = np.random.default_rng(65537)
    shapes = [(65537,), (7,), (), (0,)]
    layouts = ["contiguous", "strided", "contiguous", "contiguous"]
    thetas = [rng.standard_normal(s).astype(dt) for s in shapes]
    grads = tuple(rng.standard_normal(s).astype(dt) for s in shapes)
    params = tuple(ParamCase(t, lay) for t, lay in zip(thetas, layouts))
    return [Case((GroupCase(h, params),), (grads,), note="explicit: sizes and layouts")]


@prop("shapes_layouts", ["STATE-4"],
      "Every element of every tensor is updated: 0-d, empty, odd sizes, past 65,536, strided layouts",
      strategy=_shapes_layouts, cost=3.0, explicit=_shapes_explicit)
def shapes_layouts(adapter, case, collector):
    judge_trace(adapter, case, execute(adapter, case), collector)


@prop("state_dtype", ["DT-1"], "m, v and vmax are stored in the parameter's dtype",
      strategy=lambda caps: S.single_step_cases(caps, shapes=[(3,)]))
def state_dtype(adapter, case, collector):
    trace = execute(adapter, case)
    after = trace.snapshots[1][0]
    want = np.asarray(case.params[0].init).dtype
    for name in ("m", "v", "vmax"):
        a = getattr(after, name)
        if a is not None and np.asarray(a).dtype != want:
            collector.fail(Violation(f"{name} is stored as {np.asarray(a).dtype}, the parameter as {want}",
                                     case, 0, 1, clause="DT-1"))
