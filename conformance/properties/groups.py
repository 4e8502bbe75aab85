"""Parameter groups (GRP-1, GRP-2) and parameters without a gradient (NOGRAD-1 … NOGRAD-3)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import strategies as st

from adamspec.conformance import strategies as S
from adamspec.conformance.cases import Case, GroupCase, ParamCase
from adamspec.conformance.execute import execute
from adamspec.conformance.judge import fresh, judge_trace, same_bits
from adamspec.conformance.registry import Violation, needs_flag, prop
from adamspec.reference.hyper import Hyper


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
    shapes = draw(st.lists(st.sampled_from(S.shapes_for(caps, [(3,), (5,), (2, 2), (1,)])), min_size=3, max_size=3))
    thetas = [draw(S.arrays(dtype, s, S.theta_values(dtype, h1))) for s in shapes]
    n_steps = draw(st.integers(1, 3))
    grads = tuple(tuple(draw(S.arrays(dtype, s, S.elements(dtype, -3, 1))) for s in shapes)
                  for _ in range(n_steps))
    groups = (GroupCase(h1, (ParamCase(thetas[0]), ParamCase(thetas[1]))),
              GroupCase(h2, (ParamCase(thetas[2]),)))
    return Case(groups, grads)


@prop("groups", ["GRP-1", "GRP-2", "API-5"],
      "Each parameter group's hyperparameters apply to its own parameters only",
      strategy=_two_groups, needs=needs_flag("groups", "parameter groups"), cost=2.0)
def groups(adapter, case, collector):
    judge_trace(adapter, case, execute(adapter, case), collector,
                "the step with its own group's hyperparameters")


@st.composite
def _some_without_grad(draw, caps):
    dtype = draw(S.dtypes(caps))
    h = draw(S.hypers(caps, weight_decay=0.1 if "adam" not in caps.modes else None))
    if h.mode.value == "adam":
        h = replace(h, weight_decay=0.0)
    # (3,), and for a sharded record the shapes that shard badly (an empty shard, uneven ones)
    shape = draw(st.sampled_from(S.shapes_for(caps, [(3,)])))
    thetas = [draw(S.arrays(dtype, shape, S.elements(dtype, -2, 1, zero=False))) for _ in range(2)]
    n = draw(st.integers(2, 4))
    # Parameter 0 has no gradient on some steps (None), parameter 1 a zero gradient on some.
    pattern = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    pattern[0] = False  # parameter 0 starts without a gradient: no state may be created
    grads = []
    for k in range(n):
        g0 = draw(S.arrays(dtype, shape, S.elements(dtype, -3, 0))) if pattern[k] else None
        g1 = (np.zeros(shape, thetas[1].dtype) if k % 2 == 0
              else draw(S.arrays(dtype, shape, S.elements(dtype, -3, 0))))
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
            if not same_bits(before.theta, after.theta):
                collector.fail(Violation(f"parameter 0 has no gradient at step {k + 1} but θ changed", case, 0,
                                         None, clause="NOGRAD-1"))
            if fresh(before):
                if not (after.step is None or after.step == 0):
                    collector.fail(Violation(f"parameter 0 has never had a gradient, yet state step = "
                                             f"{after.step!r} exists after step {k + 1}", case, 0, None,
                                             clause="NOGRAD-2"))
            else:
                for name in ("m", "v", "vmax", "step"):
                    b, a = getattr(before, name), getattr(after, name)
                    same = (b == a) if name == "step" else (b is None and a is None) or (
                        b is not None and a is not None and same_bits(b, a))
                    if not same:
                        collector.fail(Violation(f"parameter 0 has no gradient at step {k + 1} but its {name} "
                                                 "changed", case, 0, None, clause="NOGRAD-2"))
        zero_steps = sum(1 for gs in case.grads[:k + 1] if gs[1] is not None)
        if trace.snapshots[k + 1][1].step != zero_steps:
            collector.fail(Violation(f"parameter 1 (zero gradient on some steps) has step = "
                                     f"{trace.snapshots[k + 1][1].step!r} after {zero_steps} steps", case, 1,
                                     None, clause="NOGRAD-3"))
    judge_trace(adapter, case, trace, collector)


def _warmup_explicit(caps) -> list[Case]:
    """The commonest schedule, met in every profile: a linear warm-up from exactly lr = 0, fresh
    state, a gradient with a zero element."""
    dtype = "float32" if "float32" in caps.dtypes else sorted(caps.dtypes)[0]
    dt = S.float_format(dtype).dtype
    mode = sorted(caps.modes)[-1]
    h = Hyper(lr=0.0, weight_decay=0.1 if mode != "adam" else 0.0, mode=mode)
    steps = tuple((replace(h, lr=lr),) for lr in (0.0, 5e-3, 1e-2))
    grads = tuple((np.array([0.0, 0.5, -1.0], dt) * (k + 1),) for k in range(3))
    return [Case((GroupCase(h, (ParamCase(np.array([1.0, -2.0, 0.5], dt)),)),), grads, note="explicit: warm-up from 0",
                 schedule=steps)]


@prop("schedules", ["GRP-4"],
      "Each step uses the hyperparameters in force at it: lr warm-up from 0, cosine and step decay, "
      "jumps, a rising β₂, weight decay changed mid-run",
      strategy=lambda caps: S.scheduled_trajectories(caps), cost=2.0, explicit=_warmup_explicit)
def schedules(adapter, case, collector):
    # A cached lr, β or decay factor shows as a step judged at its own values and found off;
    # the failure is GRP-4's (the same step with constant values is agreement_trajectory's).
    judge_trace(adapter, case, execute(adapter, case), collector, "the step at the hyperparameters in force",
                theta_clause="GRP-4", clause_of=lambda name, flats, before, grad: ["GRP-4"] * len(flats))
