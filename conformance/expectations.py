"""Expectation entries: known deviations, keyed by adapter and clause, each with its reason.

A failing property whose clauses include an entry's clause, run on an adapter the entry's
pattern matches, is reported as an *expected* failure: the report still shows it, the
overall verdict ignores it. Entries that match no failure are reported as stale, so a
fixed deviation does not stay excused. The built-in file lists deviations of the
built-in adapters that we confirmed in plain framework code (README "Known deviations").
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from adamspec.conformance.results import RunResult


@dataclass(frozen=True)
class Expectation:
    adapter: str  # fnmatch pattern over adapter names, e.g. "torch.*.fused"
    clause: str
    reason: str
    property: str = ""  # optional: only this property's failure (a clause can have several)
    builtin: bool = False  # shipped known deviations: region-dependent, so never reported stale
    # Optional conditions on the counterexample, for a deviation defined by its inputs rather
    # than by a clause (then clause may be "*"): its storage dtype, and whether every offending
    # element belongs to a 0-d parameter.
    storage: str = ""
    zero_dim: bool = False

    def covers(self, adapter: str, clauses, prop: str = "", counterexample=None) -> bool:
        if not (fnmatch.fnmatchcase(adapter, self.adapter) and (self.clause == "*" or self.clause in clauses)
                and (not self.property or self.property == prop)):
            return False
        ce = counterexample
        if self.storage and (ce is None or ce.storage != self.storage):
            return False
        if self.zero_dim and (ce is None or not ce.elements or any(len(e.index) for e in ce.elements)):
            return False
        return True

    def label(self) -> str:
        if self.clause != "*":
            return self.clause
        return " ".join(filter(None, ["0-d" if self.zero_dim else "", self.storage])) + " parameters"


def parse(text: str, origin: str = "<expectations>", builtin: bool = False) -> list[Expectation]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{origin}: not valid TOML: {exc}") from None
    out = []
    for i, entry in enumerate(data.get("deviation", [])):
        missing = {"clause", "reason"} - set(entry)
        if missing:
            raise ValueError(f"{origin}: [[deviation]] #{i + 1} lacks {sorted(missing)}")
        e = Expectation(entry.get("adapter", "*"), entry["clause"].upper(), entry["reason"],
                        entry.get("property", ""), builtin, entry.get("storage", ""),
                        bool(entry.get("zero_dim", False)))
        if e.clause == "*" and not (e.storage or e.zero_dim):
            raise ValueError(f"{origin}: [[deviation]] #{i + 1}: clause = \"*\" needs a condition on the "
                             "counterexample (storage and/or zero_dim), else it would excuse everything")
        out.append(e)
    return out


def load(path: str | Path) -> list[Expectation]:
    path = Path(path)
    return parse(path.read_text(encoding="utf-8"), str(path))


def builtin() -> list[Expectation]:
    text = resources.files(__package__).joinpath("known_deviations.toml").read_text(encoding="utf-8")
    return parse(text, "known_deviations.toml", builtin=True)


def apply(result: RunResult, expectations: list[Expectation]) -> list[str]:
    """Mark covered failures as expected; return warnings for entries that matched nothing."""
    used = set()
    for v in result.verdicts:
        if v.verdict not in ("fail", "error"):
            continue
        for e in expectations:
            if e.covers(result.adapter, v.clauses, v.property, v.counterexample):
                v.expected_failure = f"{e.label()}: {e.reason}"
                used.add(e)
                break
    stale = [e for e in expectations
             if e not in used and not e.builtin and fnmatch.fnmatchcase(result.adapter, e.adapter)
             and any((e.clause == "*" or e.clause in v.clauses) and v.verdict == "pass"
                     and (not e.property or e.property == v.property) for v in result.verdicts)]
    return [f"expectation for {e.label()} on {e.adapter} matched no failure (fixed?): {e.reason}"
            for e in stale]
