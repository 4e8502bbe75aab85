"""What a conformance run produces: per-property verdicts and the minimal counterexamples.

Plain data, filled by the runner and read by the reports; nothing here runs anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VERDICTS = ("pass", "fail", "not-applicable", "error")


@dataclass(frozen=True)
class Element:
    """One offending element of a counterexample, TestFloat-style."""

    output: str  # "theta", "m", "v" or "vmax"
    index: tuple[int, ...]  # position in the parameter
    param: int  # which parameter of the case
    inputs: dict[str, float]  # θ, g, m, v (and vmax) before the step, as stored
    expected: float  # exact value rounded to binary64 (the mpf digits are in expected_digits)
    expected_digits: str  # the exact value to 30 significant digits
    bound: float  # C·B
    got: float
    ulps: float
    fraction: float  # |got − expected| / (C·B)


@dataclass(frozen=True)
class Counterexample:
    clause: str
    requirement: str  # the clause's normative sentence
    adapter: str
    message: str  # what the property saw, one or two sentences
    hyper: dict  # hyperparameters of the group the element belongs to
    storage: str  # storage dtype
    step: int | None  # the step count t of the failing step
    elements: tuple[Element, ...] = ()
    case_json: str = ""  # the full case, replayable (adamspec.conformance.cases.Case.to_json)
    replay: str = ""  # one-line command that replays exactly this counterexample


@dataclass
class PropertyVerdict:
    property: str  # the property's name (a test id)
    clause: str  # the primary clause it checks
    clauses: tuple[str, ...]  # every clause it checks, primary first
    title: str
    verdict: str = "pass"  # one of VERDICTS
    examples: int = 0
    max_ulp: float | None = None
    max_bound_fraction: float | None = None
    exempt_elements: int = 0  # elements outside the first-order model (SPEC NUM-7)
    seconds: float = 0.0
    reason: str = ""  # why not applicable, or the error
    counterexample: Counterexample | None = None
    expected_failure: str = ""  # the expectation entry that covers a known deviation, if any


@dataclass
class RunResult:
    adapter: str
    capabilities: dict
    profile: str
    seed: int
    environment: dict
    verdicts: list[PropertyVerdict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. stale expectation entries
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        """conformant / non-conformant / error (an error outranks a failure: the run is unreliable)."""
        live = [v for v in self.verdicts if not v.expected_failure]
        if any(v.verdict == "error" for v in live):
            return "error"
        if any(v.verdict == "fail" for v in live):
            return "non-conformant"
        if not any(v.verdict == "pass" or v.expected_failure for v in self.verdicts):
            return "error"  # nothing was checked: a vacuous run must not read as conformant
        return "conformant"

    def counts(self) -> dict[str, int]:
        """Verdicts by kind; failures an expectation entry covers count as "expected"."""
        out = {k: 0 for k in (*VERDICTS, "expected")}
        for v in self.verdicts:
            if v.verdict not in VERDICTS:
                raise ValueError(f"unknown verdict {v.verdict!r} for {v.property}")
            out["expected" if v.expected_failure and v.verdict in ("fail", "error") else v.verdict] += 1
        return out
