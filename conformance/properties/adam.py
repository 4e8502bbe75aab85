"""Consequences of the Adam step stated on their own: the size of the first step from zero
state (AD-7, with STATE-1) and the three modes coinciding at zero decay (AD-13, GRP-3).

The other derived AD clauses are symmetries (symmetries.py) and determinism (inputs.py).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from adamspec.conformance import strategies as S
from adamspec.conformance.execute import execute
from adamspec.conformance.judge import judge_trace, same_up_to_zero_sign
from adamspec.conformance.registry import Violation, prop
from adamspec.conformance.variants import canonical_for
from adamspec.reference.bound import C


@st.composite
def _first_steps(draw, caps):
    # Non-empty tensors, and g ≠ 0 somewhere: AD-7 is about the size of the first step.
    return draw(S.single_step_cases(caps, injected=False, shapes=[(1,), (3,), (5,), (2, 3)],
                                    mode="adam" if "adam" in caps.modes else None,
                                    weight_decay=0.0).filter(lambda c: np.any(c.grads[0][0] != 0)))


@prop("first_step", ["AD-7", "STATE-1"],
      "From zero state at t = 1 with λ = 0: Δθ = −α·g/(|g| + ε), so |Δθ| ≤ α",
      strategy=_first_steps,
      # |Δθ| ≤ α needs m̂₁ = g and v̂₁ = g² (VAR-5 off gives (1 − β₁)/√(1 − β₂) times more) and a
      # step size of α (VAR-3 "scheduled" makes it η·α); λ = 0 here, so an unscaled decay is moot.
      # ε placement keeps it: hat and inside only make the denominator ≥ |g|. "corrected" changes
      # only the decay, and steps by α.
      needs=canonical_for("bias_correction", "decay_scale", decay_scale=["independent", "corrected"]))
def first_step(adapter, case, collector):
    trace = execute(adapter, case)
    (j,) = judge_trace(adapter, case, trace, collector, "−α·g/(|g| + ε)", theta_clause="AD-7")
    after = trace.snapshots[1][0]
    if after.step != 1:
        collector.fail(Violation(f"the first step stored step = {after.step!r}, not 1", case, 0, 1,
                                 clause="STATE-1"))
    h = case.hypers[0]
    with np.errstate(invalid="ignore"):  # ∞ − ∞ where θ was infinite: not finite, not judged here
        delta = np.abs(np.asarray(after.theta, np.float64) - np.asarray(case.params[0].init, np.float64))
    over = delta > h.lr + C * j.bounds["theta"]
    if np.any(over & np.isfinite(delta)):
        collector.fail(Violation(f"|Δθ| = {float(delta[over].max())!r} exceeds α = {h.lr!r}", case, 0, 1,
                                 clause="AD-7"))


@prop("modes_coincide", ["AD-13", "GRP-3"],
      "With λ = 0 the modes the adapter implements give identical trajectories",
      strategy=lambda caps: S.trajectory_cases(caps, max_steps=8, weight_decay=0.0,
                                               mode=sorted(caps.modes)[0]),
      needs=lambda caps: None if len(caps.modes) > 1 else "the adapter implements a single mode")
def modes_coincide(adapter, case, collector):
    results = []
    for mode in sorted(adapter.capabilities.modes):
        results.append(execute(adapter, case.with_hyper(mode=mode)).snapshots[-1][0])
    for other, mode in zip(results[1:], sorted(adapter.capabilities.modes)[1:]):
        for name in ("theta", "m", "v"):
            if not same_up_to_zero_sign(getattr(results[0], name), getattr(other, name)):
                collector.fail(Violation(f"with λ = 0, mode {mode} stored a different {name} than mode "
                                         f"{sorted(adapter.capabilities.modes)[0]}", case, 0, None,
                                         clause="AD-13"))
