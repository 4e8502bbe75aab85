"""Properties as data: each names the SPEC clauses it checks, how to draw its cases, and what
it needs from an adapter. Every failure names the one clause it refutes (``Violation.clause``).

``load()`` imports the property modules; nothing registers as a side effect of another import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from adamspec.adapters.base import Capabilities
from adamspec.conformance.results import Element

PROPERTIES: dict[str, Property] = {}


def load() -> dict[str, Property]:
    """The registered properties, in registration order: importing the package
    ``conformance/properties/`` registers its modules' properties, module by module in the
    order its ``__init__`` imports them."""
    from adamspec.conformance import properties  # noqa: F401 - registers them

    return PROPERTIES


class Violation(AssertionError):
    """A property failed on a case; carries the refuted clause and what a report needs."""

    def __init__(self, message: str, case=None, param: int | None = 0, step: int | None = None,
                 elements: tuple[Element, ...] = (), *, clause: str, row: str = "", evidence=None,
                 index: int | None = None):
        super().__init__(message)
        self.message, self.case, self.param, self.step, self.elements = message, case, param, step, elements
        self.clause, self.row = clause, row
        self.index = index  # which step of the case (0-based), where known: its hyperparameters apply
        # A judged step's failing elements (judge.Evidence); the report turns them into
        # ``elements`` (conformance/elements.py) when it shows the counterexample.
        self.evidence = evidence
        self.kind = "fail"
        # (the known-deviation entry that excuses it, or None), once the runner has decided
        self.matched: tuple | None = None


class Raised(Violation):
    """The implementation raised while a property ran it: an error verdict with a counterexample."""

    def __init__(self, exc: BaseException, case, clause: str):
        super().__init__(f"{type(exc).__name__}: {exc}".strip()[:500], case, None, clause=clause)
        self.kind = "error"


@dataclass
class Collector:
    """What a property observed across its examples, and where its failures go.

    ``fail`` raises unless ``excuse`` (set by the runner) says the failure is a known
    deviation; then it is recorded and the check goes on, so the rest of the example is still
    judged: an excused clause stops counting, nothing else does.
    """

    examples: int = 0
    max_fraction: float = 0.0
    max_ulp: float = 0.0
    exempt: int = 0
    excuse: Callable[[Violation], bool] = field(default=lambda v: False)

    def observe(self, judgement) -> None:
        self.max_fraction = max(self.max_fraction, judgement.worst_fraction)
        self.max_ulp = max(self.max_ulp, judgement.worst_ulps)
        self.exempt += sum(int(np.count_nonzero(m.exempt)) for m in judgement.outputs.values())

    def fail(self, violation: Violation) -> None:
        if not self.excuse(violation):
            raise violation


def needs_flag(flag: str, what: str) -> Callable[[Capabilities], str | None]:
    """A ``needs`` for a boolean capability (``caps.<flag>``)."""
    return lambda caps: None if getattr(caps, flag) else f"the adapter declares no {what}"


def needs_mode(mode: str) -> Callable[[Capabilities], str | None]:
    """A ``needs`` for one mode among the adapter's."""
    return lambda caps: None if mode in caps.modes else f"the adapter does not implement mode {mode}"


@dataclass(frozen=True)
class Row:
    """One row of an enumerated table: checked in every profile, on its own (SPEC VAL-*)."""

    name: str  # e.g. "lr=inf": what a deviation entry's ``row`` names
    case: object  # the Case that runs it


@dataclass(frozen=True)
class Property:
    name: str
    clauses: tuple[str, ...]
    title: str
    strategy: Callable | None  # (Capabilities) -> SearchStrategy[Case]; None for a table
    check: Callable  # (adapter, case, Collector) -> None, failing through collector.fail
    needs: Callable[[Capabilities], str | None] = field(default=lambda caps: None)
    cost: float = 1.0  # relative price of one example; the runner gives costly ones fewer
    # Cases run first in every profile, whatever hypothesis draws: the regions a small budget
    # must never miss (they make detection independent of the random stream).
    explicit: Callable[[Capabilities], list] = field(default=lambda caps: [])
    # A finite table is enumerated, not sampled: every row runs and is reported on its own.
    rows: Callable[[Capabilities], list[Row]] | None = None
    # False for a property that compares runs or records with each other, never with the exact step
    # (determinism, the state's dtype, in place, read-only gradients): a deviation of the step's
    # values cannot show there, so a model's trigger reached there does not make its entry stale.
    judges_steps: bool = True

    @property
    def clause(self) -> str:
        return self.clauses[0]


def prop(name: str, clauses, title: str, strategy=None, needs=None, cost: float = 1.0, explicit=None,
         rows=None, judges_steps: bool = True):
    """Register ``check`` as a property (decorator)."""
    if (strategy is None) == (rows is None):
        raise ValueError(f"property {name!r}: give either a strategy or rows")

    def register(check):
        if name in PROPERTIES:
            raise ValueError(f"property {name!r} registered twice")
        PROPERTIES[name] = Property(name, tuple(clauses), title, strategy, check,
                                    needs or (lambda caps: None), cost, explicit or (lambda caps: []), rows,
                                    judges_steps)
        return check

    return register
