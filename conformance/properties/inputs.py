"""The implementation's inputs: the gradient is read-only (MUT-1), the parameter is updated in
place (MUT-2), and identical inputs give identical bits (AD-12)."""

from __future__ import annotations

from adamspec.adapters.base import NotApplicable
from adamspec.conformance import strategies as S
from adamspec.conformance.execute import execute
from adamspec.conformance.judge import same_bits
from adamspec.conformance.registry import Violation, prop


@prop("gradient_untouched", ["MUT-1"], "The gradient is read-only: bitwise unchanged by the step",
      strategy=lambda caps: S.single_step_cases(caps), judges_steps=False)
def gradient_untouched(adapter, case, collector):
    trace = execute(adapter, case)
    if trace.grads_after is None:
        raise NotApplicable("the adapter's session does not expose its gradients (grads_after)")
    for k, (given_, held) in enumerate(zip(case.grads, trace.grads_after)):
        for i, (g, h) in enumerate(zip(given_, held)):
            if g is not None and not same_bits(g, h):
                collector.fail(Violation(f"parameter {i}'s gradient changed during step {k + 1}", case, i, None,
                                         clause="MUT-1"))


# Strided and transposed parameters too: a kernel that needs contiguous memory and replaces the
# parameter's data with a contiguous copy keeps the values right and detaches every other view.
@prop("in_place", ["MUT-2"], "The parameter is updated in place, keeping its storage and strides",
      strategy=lambda caps: S.single_step_cases(caps, shapes=[(3,), (2, 3)],
                                                layouts=("contiguous", "strided", "transposed")), judges_steps=False)
def in_place(adapter, case, collector):
    trace = execute(adapter, case)
    if trace.in_place is None:
        raise NotApplicable("the adapter's session cannot tell (updated_in_place)")
    for k, flags in enumerate(trace.in_place):
        for i, ok in enumerate(flags):
            if not ok:
                collector.fail(Violation(f"parameter {i} ({case.params[i].layout}) was replaced, not updated in "
                                         f"place, at step {k + 1}",
                                         case, i, None, clause="MUT-2"))


@prop("determinism", ["AD-12"], "Identical inputs give bitwise identical results",
      strategy=lambda caps: S.trajectory_cases(caps, max_steps=4), judges_steps=False)
def determinism(adapter, case, collector):
    a, b = execute(adapter, case).snapshots[-1], execute(adapter, case).snapshots[-1]
    for i, (x, y) in enumerate(zip(a, b)):
        for name in ("theta", "m", "v"):
            if not same_bits(getattr(x, name), getattr(y, name)):
                collector.fail(Violation(f"two identical runs stored different {name} for parameter {i}",
                                         case, i, None, clause="AD-12"))
