"""Clause ↔ property traceability: SPEC.md's ``Checked by:`` lines and the property registry.

Every clause is checked by at least one property, by named tests of the reference itself,
or is marked informative; every property names existing clauses. ``python -m
adamspec.conformance.traceability --write`` rewrites the lines from the registry.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from adamspec import spec
from adamspec.conformance.registry import load

# Clauses no conformance property checks, and what does (tests of the suite itself) or why not.
NOT_BY_PROPERTY = {
    "NUM-1": "tests/test_reference_precision.py, tests/test_golden.py (the reference's own self-check)",
    "NUM-4": "tests/test_reports.py (every report carries ULPs and the bound fraction)",
    "NUM-6": "informative (bitwise identity is an opt-in claim; no property in this version)",
    "API-6": "informative (the runner reads the capability record; every report prints it)",
}


def expected_lines() -> dict[str, str]:
    by_clause: dict[str, list[str]] = {}
    for p in load().values():
        for c in p.clauses:
            by_clause.setdefault(c, []).append(p.name)
    out = {}
    for c in spec.clauses():
        if c.id in by_clause:
            out[c.id] = ", ".join(by_clause[c.id])
        else:
            out[c.id] = NOT_BY_PROPERTY.get(c.id, "")
    return out


def rewrite(text: str) -> str:
    lines, current = [], None
    want = expected_lines()
    for line in text.splitlines():
        m = re.match(r"^### ([A-Z0-9]+-[0-9]+) — ", line)
        if m:
            current = m.group(1)
        if line.startswith("Checked by:") and current in want:
            line = f"Checked by: {want[current]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    path = Path(__file__).resolve().parents[1] / "spec" / "SPEC.md"
    if "--write" in sys.argv:
        path.write_text(rewrite(path.read_text(encoding="utf-8")), encoding="utf-8")
    missing = [k for k, v in expected_lines().items() if not v]
    print("unchecked clauses:", missing or "none")
