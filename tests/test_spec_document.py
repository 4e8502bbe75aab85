"""SPEC.md parses, its IDs are stable in shape, and the version lives in one place."""

import re
from pathlib import Path

import pytest

from adamspec import spec

ROOT = Path(__file__).resolve().parents[1]
PREFIXES = {"AD", "L2", "AW", "AMS", "MAX", "STATE", "GRP", "NOGRAD", "MUT", "VAL", "NF", "DT",
            "NUM", "VAR", "API"}


def test_spec_has_every_clause_family_and_at_least_40_clauses():
    found = {c.prefix for c in spec.clauses()}
    assert found >= PREFIXES, PREFIXES - found
    assert len(spec.clauses()) >= 40


def test_every_clause_has_a_requirement_a_rationale_and_a_checked_by_line():
    for c in spec.clauses():
        assert c.requirement, c.id
        assert re.search(r"\b(MUST|SHOULD)\b", c.requirement), c.id
        assert "**Rationale.**" in c.text, c.id
        assert c.checked_by, c.id


def test_spec_version_is_calendar_style_and_stated_once():
    assert re.fullmatch(r"\d{4}\.\d{2}(\.[1-9]\d*)?", spec.spec_version())
    text = (ROOT / "spec" / "SPEC.md").read_text(encoding="utf-8")
    # once outside the change log, which names every version (tests/test_spec_version.py)
    body = text.split("\n## Versions and change log (informative)\n", 1)[0]
    assert body.count(spec.spec_version()) == 1


def test_citation_cites_the_same_spec_version():
    cff = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    assert f'version: "{spec.spec_version()}"' in cff


def test_parser_rejects_duplicates_and_missing_version():
    with pytest.raises(ValueError, match="duplicate"):
        spec.parse("Spec version: 2026.12\n### AD-1 — a\nx\n### AD-1 — b\ny\n")
    with pytest.raises(ValueError, match="exactly once"):
        spec.parse("### AD-1 — a\n")


def test_lookup_is_case_insensitive_and_unknown_ids_raise():
    first = spec.clauses()[0]
    assert spec.clause(first.id.lower()) == first
    with pytest.raises(KeyError):
        spec.clause("ZZ-99")
