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
    clause: str  # the one clause this failure refutes (not the property's whole list)
    requirement: str  # the clause's normative sentence
    adapter: str
    message: str  # what the property saw, one or two sentences
    hyper: dict  # hyperparameters of the group the element belongs to
    storage: str  # storage dtype
    step: int | None  # the step count t of the failing step
    elements: tuple[Element, ...] = ()
    case_json: str = ""  # the full case, replayable (adamspec.conformance.cases.Case.to_json)
    replay: str = ""  # one-line command that replays exactly this counterexample
    kind: str = "fail"  # "fail": a requirement was refuted; "error": the implementation raised
    row: str = ""  # the row of an enumerated table (VAL: "lr=inf"), "" for drawn cases
    zero_dim: bool = False  # the offending parameter is 0-d (for errors: every parameter is)
    layout: str = ""  # the offending parameter's memory layout ("strided", ...); "" for errors


@dataclass(frozen=True)
class Excused:
    """A known deviation seen in a run: the entry that names it and its own minimal counterexample."""

    label: str  # what the entry keys on, e.g. "VAL-1 lr=inf" or "0-d float64 parameters"
    reason: str
    counterexample: Counterexample


@dataclass(frozen=True)
class InputKind:
    """What a known-deviation entry's input conditions look at, for one parameter of one example."""

    storage: str
    zero_dim: bool
    layout: str
    lr_zero: bool  # some step of the example was taken at lr = 0
    # the deviation models (deviation_models.TRIGGERS) whose deviation this parameter's steps would
    # show: an entry with such a model is stale only where one was reached, not merely drawn
    reaches: frozenset[str] = frozenset()


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
    # Failures no known deviation excuses, each with its own minimal counterexample: one for
    # a drawn property (the search ends there), one per failing row of an enumerated table.
    failures: list[Counterexample] = field(default_factory=list)
    # Known deviations seen, each found and shrunk on its own; the search went on past them.
    excused: list[Excused] = field(default_factory=list)
    # The kinds of input the examples held, one InputKind per (storage, 0-d, layout, lr = 0)
    # met: an input-keyed entry is stale only where its input was checked (deviations.stale).
    inputs: set = field(default_factory=set)

    @property
    def counterexample(self) -> Counterexample | None:
        return self.failures[0] if self.failures else None

    @property
    def clauses_refuted(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.clause for c in self.failures))


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
        """conformant / non-conformant / error (an error outranks a failure: the run is unreliable).

        A property's verdict already leaves out what known deviations excuse, and only that:
        a failure the entries do not name makes the property fail whatever else was excused.
        """
        if any(v.verdict == "error" for v in self.verdicts):
            return "error"
        if any(v.verdict == "fail" for v in self.verdicts):
            return "non-conformant"
        if not any(v.verdict == "pass" for v in self.verdicts):
            return "error"  # nothing was checked: a vacuous run must not read as conformant
        return "conformant"

    def counts(self) -> dict[str, int]:
        """Verdicts by kind, and how many known deviations were seen ("excused")."""
        out = {k: 0 for k in (*VERDICTS, "excused")}
        for v in self.verdicts:
            if v.verdict not in VERDICTS:
                raise ValueError(f"unknown verdict {v.verdict!r} for {v.property}")
            out[v.verdict] += 1
            out["excused"] += len(v.excused)
        return out
