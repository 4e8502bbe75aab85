"""Agreement with the exact reference: one step from any state (AD-1 and the clauses of the
step, judged output by output), and trajectories step by step (NUM-5)."""

from __future__ import annotations

from adamspec.conformance import strategies as S
from adamspec.conformance.execute import execute
from adamspec.conformance.judge import judge_trace
from adamspec.conformance.registry import prop


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
