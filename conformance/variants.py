"""Properties under a declared variant (SPEC VAR-1).

A property judged by the exact reference (``judge_trace``) honours the adapter's declared
variant by itself: the reference computes that variant's step. A property that also asserts
a closed form of the *canonical* step (|Δθ| ≤ α at the first step, θ unchanged at α = 0)
would report a false failure under a variant that changes that form. VAR-1: such a clause is
"judged in the variant's form where the reference defines one, and otherwise reported not
applicable with the reason". ``canonical_for`` gives those properties their ``needs=``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from adamspec.adapters.base import Capabilities
from adamspec.reference.hyper import KNOBS


def canonical_for(*knobs: str, **also_holds_under: Iterable) -> Callable[[Capabilities], str | None]:
    """A ``needs=`` callable: not applicable when the declared variant departs from canonical
    in one of ``knobs``, because the property's closed form is that of the canonical step.

    ``also_holds_under`` names further values of a knob under which the closed form still
    holds, e.g. ``canonical_for("decay_scale", decay_scale=["independent"])``.
    """
    unknown = [k for k in (*knobs, *also_holds_under) if k not in KNOBS]
    if unknown:
        raise ValueError(f"no variant knob {unknown}; the knobs are {tuple(KNOBS)}")
    if set(also_holds_under) - set(knobs):
        raise ValueError("also_holds_under names a knob that is not among the knobs")
    fine = {k: {KNOBS[k].canonical, *also_holds_under.get(k, ())} for k in knobs}
    for k, values in fine.items():
        if not values <= set(KNOBS[k].values):
            raise ValueError(f"{k}: {sorted(values - set(KNOBS[k].values), key=str)} are not values of the knob")

    def needs(caps: Capabilities) -> str | None:
        departed = [k for k in knobs if getattr(caps.variant, k) not in fine[k]]
        if not departed:
            return None
        named = ", ".join(f"{k} = {getattr(caps.variant, k)!r} ({KNOBS[k].clause})" for k in departed)
        # the report prefixes "not applicable", as for every other ``needs`` reason
        return f"the declared variant departs from canonical in {named}, and this clause's closed form is canonical"

    needs.knobs = tuple(knobs)  # for tests and reports: which knobs the closed form depends on
    return needs
