"""Properties as data: each names the SPEC clauses it checks, how to draw its cases, and what
it needs from an adapter. The verdict of a property is the verdict of its clauses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from adamspec.adapters.base import Capabilities
from adamspec.conformance.results import Element

PROPERTIES: dict[str, Property] = {}


@dataclass
class Collector:
    """What a property observed across its examples: headroom and exempt elements."""

    examples: int = 0
    max_fraction: float = 0.0
    max_ulp: float = 0.0
    exempt: int = 0

    def observe(self, judgement) -> None:
        self.max_fraction = max(self.max_fraction, judgement.worst_fraction)
        self.max_ulp = max(self.max_ulp, judgement.worst_ulps)
        self.exempt += sum(int(np.count_nonzero(m.exempt)) for m in judgement.outputs.values())


class Violation(AssertionError):
    """A property failed on a case; carries what a counterexample report needs."""

    def __init__(self, message: str, case=None, param: int = 0, step: int | None = None,
                 elements: tuple[Element, ...] = ()):
        super().__init__(message)
        self.message, self.case, self.param, self.step, self.elements = (
            message, case, param, step, elements)


@dataclass(frozen=True)
class Property:
    name: str
    clauses: tuple[str, ...]
    title: str
    strategy: Callable  # (Capabilities) -> SearchStrategy[Case]
    check: Callable  # (adapter, case, Collector) -> None, raises Violation
    needs: Callable[[Capabilities], str | None] = field(default=lambda caps: None)
    cost: float = 1.0  # relative price of one example; the runner gives costly ones fewer
    # Cases run first in every profile, whatever hypothesis draws: the regions a small budget
    # must never miss (they make detection independent of the random stream).
    explicit: Callable[[Capabilities], list] = field(default=lambda caps: [])

    @property
    def clause(self) -> str:
        return self.clauses[0]


def prop(name: str, clauses, title: str, strategy, needs=None, cost: float = 1.0, explicit=None):
    """Register ``check`` as a property (decorator)."""

    def register(check):
        if name in PROPERTIES:
            raise ValueError(f"property {name!r} registered twice")
        PROPERTIES[name] = Property(name, tuple(clauses), title, strategy, check,
                                    needs or (lambda caps: None), cost, explicit or (lambda caps: []))
        return check

    return register
