"""Every SPEC clause is checked (or marked informative) and every property names real clauses."""

from pathlib import Path

from adamspec import spec
from adamspec.conformance.registry import load
from adamspec.conformance.traceability import NOT_BY_PROPERTY, expected_lines

PROPERTIES = load()

ROOT = Path(__file__).resolve().parents[1]


def test_every_property_names_existing_clauses():
    ids = {c.id for c in spec.clauses()}
    for p in PROPERTIES.values():
        assert p.clauses and set(p.clauses) <= ids, (p.name, set(p.clauses) - ids)


def test_every_clause_is_checked_or_informative():
    for cid, line in expected_lines().items():
        assert line, f"{cid} is checked by nothing"


def test_spec_checked_by_lines_match_the_registry():
    """Regenerate with: python -m adamspec.conformance.traceability --write"""
    want = expected_lines()
    for c in spec.clauses():
        assert c.checked_by == want[c.id], (c.id, c.checked_by, want[c.id])


def test_non_property_checks_name_existing_test_files():
    for cid, line in NOT_BY_PROPERTY.items():
        for token in line.replace(",", " ").split():
            if token.startswith("tests/"):
                assert (ROOT / token).is_file(), (cid, token)
