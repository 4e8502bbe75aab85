"""The normative text, SPEC.md, and a small parser for its numbered clauses.

SPEC.md is the single source of truth for clause IDs and for the spec version;
code reads both from it rather than repeating them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_CLAUSE_HEADING = re.compile(r"^### ([A-Z0-9]+-[0-9]+) — (.+?)\s*$")
_VERSION_LINE = re.compile(r"^Spec version: (\d{4}\.\d{2})\s*$")
_CHECKED_BY = re.compile(r"^Checked by:\s*(.*?)\s*$")


@dataclass(frozen=True)
class Clause:
    id: str
    title: str
    text: str  # the clause body, headings excluded
    checked_by: str  # the raw ``Checked by:`` value

    @property
    def prefix(self) -> str:
        return self.id.split("-", 1)[0]

    @property
    def requirement(self) -> str:
        """The one-paragraph normative sentence(s), without the bold label."""
        for para in self.text.split("\n\n"):
            if para.startswith("**Requirement.**"):
                return " ".join(para.removeprefix("**Requirement.**").split())
        return ""


def spec_text() -> str:
    return resources.files(__name__).joinpath("SPEC.md").read_text(encoding="utf-8")


def parse(text: str) -> tuple[str, tuple[Clause, ...]]:
    """Return (spec version, clauses in document order) of a SPEC.md text."""
    versions = []
    clauses: list[Clause] = []
    current: tuple[str, str] | None = None
    body: list[str] = []

    def close() -> None:
        if current is None:
            return
        text = "\n".join(body).strip()
        checked = ""
        for line in text.splitlines():
            match = _CHECKED_BY.match(line)
            if match:
                checked = match.group(1)
        clauses.append(Clause(current[0], current[1], text, checked))

    for line in text.splitlines():
        if m := _VERSION_LINE.match(line):
            versions.append(m.group(1))
        if m := _CLAUSE_HEADING.match(line):
            close()
            current, body = (m.group(1), m.group(2)), []
        elif line.startswith("#"):
            close()
            current, body = None, []
        elif current is not None:
            body.append(line)
    close()
    if len(versions) != 1:
        raise ValueError(f"SPEC.md must state 'Spec version: YYYY.MM' exactly once, found {versions}")
    ids = [c.id for c in clauses]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"duplicate clause IDs in SPEC.md: {dupes}")
    return versions[0], tuple(clauses)


@cache
def _parsed() -> tuple[str, tuple[Clause, ...]]:
    return parse(spec_text())


def spec_version() -> str:
    return _parsed()[0]


def clauses() -> tuple[Clause, ...]:
    return _parsed()[1]


def clause(clause_id: str) -> Clause:
    wanted = clause_id.strip().upper()
    for c in clauses():
        if c.id == wanted:
            return c
    raise KeyError(f"no clause {clause_id!r} in SPEC.md {spec_version()}")
