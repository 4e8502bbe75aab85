"""State and the step counter: large counts continue exactly (STATE-5), AMSGrad's maximum is
stored and never decreases (AMS-2, AMS-3), and maximize is minimising −g bit for bit (MAX-2)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import strategies as st

from adamspec.adapters.base import ParamState
from adamspec.conformance import strategies as S
from adamspec.conformance.cases import Case, GroupCase, ParamCase
from adamspec.conformance.execute import execute
from adamspec.conformance.judge import judge_trace, same_bits
from adamspec.conformance.registry import Violation, needs_flag, prop


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
      strategy=_large_counts, needs=needs_flag("state_injection", "state injection"))
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
      needs=needs_flag("amsgrad", "AMSGrad"), cost=2.0)
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


@prop("maximize_negates", ["MAX-2"], "maximize with g is bitwise minimize with −g",
      strategy=lambda caps: S.trajectory_cases(caps, max_steps=4, maximize=False),
      needs=needs_flag("maximize", "maximize"))
def maximize_negates(adapter, case, collector):
    up = case.with_hyper(maximize=True)
    down = Case(case.groups, tuple(tuple(None if g is None else -g for g in step) for step in case.grads))
    a, b = execute(adapter, up).snapshots[-1][0], execute(adapter, down).snapshots[-1][0]
    for name in ("theta", "m", "v"):
        if not same_bits(getattr(a, name), getattr(b, name)):
            collector.fail(Violation(f"maximize=True with g and maximize=False with −g stored different {name}",
                                     case, 0, None, clause="MAX-2"))


def _inputs_after_resume(case, trace, collector):
    """MUT-1 and MUT-2 hold for the restored instance too: its steps leave the gradient as given
    and update the (fresh) parameters in place, where the session can tell."""
    for k in range(case.resume_at, len(case.grads)):
        if trace.grads_after is not None:
            for i, (g, held) in enumerate(zip(case.grads[k], trace.grads_after[k])):
                if g is not None and not same_bits(g, held):
                    collector.fail(Violation(f"resumed after step {case.resume_at}: parameter {i}'s gradient "
                                             f"changed during step {k + 1}", case, i, None, clause="MUT-1"))
        if trace.in_place is not None:
            for i, ok in enumerate(trace.in_place[k]):
                if not ok:
                    collector.fail(Violation(f"resumed after step {case.resume_at}: parameter {i} was replaced, "
                                             f"not updated in place, at step {k + 1}", case, i, None, clause="MUT-2"))


@st.composite
def _resumed(draw, caps):
    # Constant hyperparameters: after the resumption they must be the checkpoint's, not the
    # fresh instance's defaults, and no set_hypers call may restore them in passing.
    # Each group runs at its schedule's largest lr (a warm-up's first value, 0, would make a whole
    # run at lr = 0).
    drawn = draw(S.scheduled_trajectories(caps, max_steps=8))
    groups = tuple(GroupCase(max((step[j] for step in drawn.schedule), key=lambda h: h.lr), g.params)
                   for j, g in enumerate(drawn.groups))
    resume_at = draw(st.integers(1, len(drawn.grads) - 1))
    grads = drawn.grads
    if draw(st.booleans()):
        # Parameter 0 gets no gradient before the checkpoint, so it has no state when saved (a
        # layer frozen at first, a branch not yet used): the restore must leave it without state.
        grads = tuple(tuple(None if i == 0 and k < resume_at else g for i, g in enumerate(step))
                      for k, step in enumerate(grads))
    return replace(Case(groups, grads), resume_at=resume_at)


_OUTPUTS = ("theta", "m", "v", "vmax")


@prop("resume", ["STATE-6", "MUT-1", "MUT-2"],
      "A checkpoint restored into a fresh instance goes on exactly as the uninterrupted run",
      strategy=_resumed, cost=2.0)
def resume(adapter, case, collector):
    resumed = execute(adapter, case)
    _inputs_after_resume(case, resumed, collector)
    straight = execute(adapter, replace(case, resume_at=None))
    for k in range(case.resume_at + 1, len(case.grads) + 1):
        for i, (a, b) in enumerate(zip(resumed.snapshots[k], straight.snapshots[k], strict=True)):
            if a.step != b.step:
                collector.fail(Violation(f"after step {k}, resumed after step {case.resume_at}, parameter {i} "
                                         f"holds step = {a.step!r}; uninterrupted, {b.step!r}", case, i, b.step,
                                         clause="STATE-6"))
            differ = [name for name in _OUTPUTS if (getattr(a, name) is None) != (getattr(b, name) is None)
                      or (getattr(a, name) is not None and not same_bits(getattr(a, name), getattr(b, name)))]
            if differ:
                collector.fail(Violation(f"after step {k}, resumed after step {case.resume_at}, parameter {i}: "
                                         f"{', '.join(differ)} not bitwise the uninterrupted run's", case, i, b.step,
                                         clause="STATE-6"))
    # and each restored step conforms (the uninterrupted one is judged by the other properties)
    judge_trace(adapter, case, resumed, collector, "the step after resuming", theta_clause="STATE-6",
                clause_of=lambda name, flats, before, grad: ["STATE-6"] * len(flats), count_clause="STATE-6")
