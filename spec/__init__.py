"""The normative text, SPEC.md, and a small parser for its numbered clauses.

SPEC.md is the single source of truth for clause IDs, for the spec version and
for its change log; code reads them from it rather than repeating them.
``normative_digest()`` fingerprints the part of the text a version pins (see
SPEC.md, "Versions and change log"); tests/test_spec_version.py pins it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources

_CLAUSE_HEADING = re.compile(r"^### ([A-Z0-9]+-[0-9]+) — (.+?)\s*$")
# YYYY.MM (the first text of an edition) or YYYY.MM.N, N >= 1 (its N-th normative revision).
VERSION_PATTERN = r"\d{4}\.(?:0[1-9]|1[0-2])(?:\.[1-9][0-9]*)?"
_VERSION_LINE = re.compile(rf"^Spec version: ({VERSION_PATTERN})\s*$")
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
        raise ValueError(f"SPEC.md must state 'Spec version: YYYY.MM[.N]' exactly once, found {versions}")
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


# --- versions, the change log and the normative digest -------------------------------------

_SECTION = re.compile(r"^#{1,2} ")  # a top-level (#) or section (##) heading
_INFORMATIVE_SECTION = re.compile(r"^## .*\(informative\)\s*$")
_CHANGELOG_HEADING = re.compile(r"^### Change log\s*$")
_ENTRY_HEADING = re.compile(rf"^#### ({VERSION_PATTERN}) — (\d{{4}}-\d{{2}}-\d{{2}})\s*$")


def version_key(version: str) -> tuple[int, int, int]:
    """The order of spec versions: YYYY.MM is (YYYY, MM, 0), YYYY.MM.N is (YYYY, MM, N)."""
    if not re.fullmatch(VERSION_PATTERN, version):
        raise ValueError(f"not a spec version (YYYY.MM or YYYY.MM.N, N >= 1): {version!r}")
    parts = [int(p) for p in version.split(".")]
    return parts[0], parts[1], parts[2] if len(parts) == 3 else 0


def next_version(version: str, today: date | None = None) -> str:
    """The version a normative change to the text of ``version`` gets when made on ``today`` (UTC).

    The month's ``YYYY.MM`` when that month comes after ``version``'s; otherwise ``version``
    with N increased by one (SPEC.md, "Versioning scheme").
    """
    today = today or datetime.now(UTC).date()
    year, month, n = version_key(version)
    if (today.year, today.month) > (year, month):
        return f"{today.year:04d}.{today.month:02d}"
    return f"{year:04d}.{month:02d}.{n + 1}"


def normative_text(text: str | None = None) -> str:
    """The part of a SPEC.md text that its spec version pins, in a canonical form.

    Everything except: the ``Spec version:`` line; in each clause, the ``**Rationale.**``
    paragraph (up to the next blank line) and the ``Checked by:`` line; every ``##``
    section whose heading ends in ``(informative)`` (up to the next ``#`` or ``##``
    heading). What remains is split into blank-line-separated blocks, each block's
    whitespace is collapsed to single spaces, and the blocks are joined by newlines,
    so that re-wrapping a paragraph is not a change.
    """
    text = spec_text() if text is None else text
    blocks: list[list[str]] = [[]]
    informative = in_clause = False
    for line in text.splitlines():
        if _SECTION.match(line):
            informative = bool(_INFORMATIVE_SECTION.match(line))
        if informative or _VERSION_LINE.match(line):
            continue
        if _CLAUSE_HEADING.match(line):
            in_clause = True
        elif line.startswith("#"):
            in_clause = False
        if in_clause and _CHECKED_BY.match(line):
            continue
        if not line.strip():
            blocks.append([])
        else:
            blocks[-1].append(line)
    kept = []
    for block in blocks:
        joined = " ".join(" ".join(block).split())
        if not joined or joined.startswith("**Rationale.**"):
            continue
        kept.append(joined)
    return "\n".join(kept) + "\n"


def normative_digest(text: str | None = None) -> str:
    """sha256 (hex) of ``normative_text`` encoded as UTF-8; pinned per version in the tests."""
    return hashlib.sha256(normative_text(text).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChangeEntry:
    version: str
    date: str  # ISO date, YYYY-MM-DD
    text: str  # the entry's body


def changelog(text: str | None = None) -> tuple[ChangeEntry, ...]:
    """The entries of SPEC.md's change log (``#### <version> — <date>`` under ``### Change log``),
    in document order, which is newest first."""
    text = spec_text() if text is None else text
    entries: list[ChangeEntry] = []
    inside = False
    head: tuple[str, str] | None = None
    body: list[str] = []

    def close() -> None:
        if head is not None:
            entries.append(ChangeEntry(head[0], head[1], "\n".join(body).strip()))

    for line in text.splitlines():
        if _CHANGELOG_HEADING.match(line):
            inside = True
            continue
        if not inside:
            continue
        if m := _ENTRY_HEADING.match(line):
            close()
            head, body = (m.group(1), m.group(2)), []
        elif re.match(r"^#{1,4} ", line):
            if line.startswith("#### "):
                raise ValueError(f"change-log heading not of the form '#### <version> — <YYYY-MM-DD>': {line!r}")
            break
        elif head is not None:
            body.append(line)
    close()
    return tuple(entries)
