"""The spec is versioned honestly: one version names one normative text.

The digest of SPEC.md's normative text (``adamspec.spec.normative_text``: everything but
the version line, Rationale paragraphs, Checked-by lines and the "(informative)" sections)
is pinned here for every version. Changing normative text without a new version, a
change-log entry and a new pin fails with instructions.
"""

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from adamspec import spec

ROOT = Path(__file__).resolve().parents[1]

# version -> sha256 of normative_text(); one row per version, never edited once published.
# The first three were computed from the history of spec/SPEC.md (bf996e7, 8f8188f, 38d8e60).
PINNED = {
    "2026.12": "078f1b7fdca883b6723061041691f175935e02d6129ac4fcfd3fc5acf06f6293",
    "2026.12.1": "f543a22ebe3857869e3db8336e4807b29fe7dba040ba6661d84aaee7aedc1a41",
    "2026.12.2": "d4bc87afc2c6993e41b55e7dbce8bf859a9e42c79b54ac345397fb627818b518",
    "2026.12.3": "32c8d69d078b2fdc287f0331bf7b48085f3372a806b517b01eac5cc30fdfeefe",
    "2026.12.4": "0d370f9d75a9cc461611f7b4488ad58522cd1b061f3eb2740a89ae270335c2d8",
    "2026.12.5": "aa0e8921ae2bbdd2bbd3703dd7205906c5e5851ca86b90e1e057e4944ddb6e47",
    "2026.12.6": "3ad7e922fd4ba45f9c8a3ec9550af8fceb9e59fb30707670c4788a4931238a32",
    "2026.12.7": "a24bfd81cedb3ef92deb384942ed301a565b9b02bbad244f3adf6870d619c499",
}


def _bump_instructions(current: str, digest: str) -> str:
    new, today = spec.next_version(current), datetime.now(UTC).date().isoformat()
    return (
        f"To publish the change:\n"
        f"  1. in spec/SPEC.md, change the line 'Spec version: {current}' to 'Spec version: {new}'\n"
        f"     (scheme: SPEC.md, 'Versioning scheme');\n"
        f"  2. add a change-log entry at the top of '### Change log' in spec/SPEC.md:\n"
        f"     '#### {new} — {today}', then one bullet per changed clause saying what changed;\n"
        f"  3. add the pin  \"{new}\": \"{digest}\",  to PINNED in tests/test_spec_version.py\n"
        f"     (leave the existing rows as they are).\n"
        f"If you meant an editorial change only, it was not one: Rationale paragraphs, Checked-by lines,\n"
        f"the '(informative)' sections and whitespace are outside the digest; everything else is in it\n"
        f"(see adamspec.spec.normative_text)."
    )


def test_normative_text_is_pinned_to_the_spec_version():
    version, digest = spec.spec_version(), spec.normative_digest()
    if version not in PINNED:
        pytest.fail(
            f"spec/SPEC.md states version {version}, which has no pinned normative digest.\n"
            f"If its change-log entry is written, add  \"{version}\": \"{digest}\",  to PINNED in "
            f"tests/test_spec_version.py.",
            pytrace=False,
        )
    if PINNED[version] != digest:
        pytest.fail(
            f"The normative text of spec/SPEC.md changed, but its version is still {version}:\n"
            f"pinned digest {PINNED[version]}, digest now {digest}.\n" + _bump_instructions(version, digest),
            pytrace=False,
        )


def test_pinned_versions_are_distinct_texts_in_order():
    assert len(set(PINNED.values())) == len(PINNED), "two versions pin the same normative text"
    assert list(PINNED) == sorted(PINNED, key=spec.version_key)
    assert list(PINNED)[-1] == spec.spec_version(), "the newest pinned version must be the one SPEC.md states"


def test_changelog_has_an_entry_for_the_current_version():
    entries = spec.changelog()
    assert entries, "spec/SPEC.md has no change log ('### Change log' with '#### <version> — <date>' entries)"
    assert entries[0].version == spec.spec_version(), (
        f"the newest change-log entry is {entries[0].version}, but SPEC.md states {spec.spec_version()}: "
        f"add a '#### {spec.spec_version()} — <YYYY-MM-DD>' entry at the top of '### Change log'"
    )
    assert all(e.text.strip() for e in entries), "every change-log entry says what changed"


def test_changelog_versions_strictly_increase():
    chronological = list(reversed(spec.changelog()))  # the log is newest first
    keys = [spec.version_key(e.version) for e in chronological]
    assert keys == sorted(set(keys)), [e.version for e in chronological]
    dates = [date.fromisoformat(e.date) for e in chronological]
    assert dates == sorted(dates), [e.date for e in chronological]
    assert chronological[0].version == "2026.12", "2026.12 is the first published text"


def test_every_logged_version_is_pinned_and_every_pin_is_logged():
    assert [e.version for e in reversed(spec.changelog())] == list(PINNED)


def test_changelog_names_only_existing_clauses():
    ids = {c.id for c in spec.clauses()}
    for e in spec.changelog():
        named = set(re.findall(r"\b[A-Z][A-Z0-9]*-[0-9]+\b", e.text))
        assert named <= ids, (e.version, named - ids)


def test_version_is_not_repeated_in_the_normative_text():
    # the version lives in one line; a clause that names it would go stale at the next bump
    assert spec.spec_version() not in spec.normative_text()


# --- what the digest covers -----------------------------------------------------------------


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) >= 1, old
    return text.replace(old, new, 1)


@pytest.mark.parametrize("edit", [
    pytest.param(lambda t: re.sub(r"(?m)^Spec version: .*$", "Spec version: 2099.01", t), id="version-line"),
    pytest.param(lambda t: _replace_once(t, "**Rationale.** Uniform shrinkage", "**Rationale.** Plain shrinkage"),
                 id="rationale"),
    pytest.param(lambda t: _replace_once(t, "Checked by: uniform_decay", "Checked by: uniform_decay, other"),
                 id="checked-by"),
    pytest.param(lambda t: _replace_once(t, "(a) Decay under a zero gradient", "(a) Decay, zero gradient"),
                 id="appendix"),
    pytest.param(lambda t: _replace_once(t, "Newest first.", "Newest entries first."), id="change-log"),
    pytest.param(lambda t: _replace_once(t, "a conforming implementation MUST\nstore",
                                         "a conforming   implementation MUST store"), id="re-wrap"),
])
def test_digest_ignores_informative_text_and_layout(edit):
    text = spec.spec_text()
    assert spec.normative_digest(edit(text)) == spec.normative_digest(text)


@pytest.mark.parametrize("edit", [
    pytest.param(lambda t: _replace_once(t, "C = 1,", "C = 2,"), id="constant"),
    pytest.param(lambda t: _replace_once(t, "θ_t = (1 − α·λ)·θ_{t−1}", "θ_t = (1 − λ)·θ_{t−1}"), id="formula"),
    pytest.param(lambda t: _replace_once(t, "implementation MUST store θ_t", "implementation SHOULD store θ_t"),
                 id="requirement"),
    pytest.param(lambda t: _replace_once(t, "### AW-3 — Uniform decay", "### AW-3 — Decay"), id="clause-title"),
    pytest.param(lambda t: _replace_once(t, "| ε | the denominator offset", "| ε | the offset"), id="table"),
    pytest.param(lambda t: _replace_once(t, "Out of scope: learning-rate", "Out of scope: gradient"), id="scope"),
    pytest.param(lambda t: _replace_once(t, "The reference implementation of these formulas",
                                         "An implementation of these formulas"), id="other-clause-paragraph"),
])
def test_digest_sees_normative_edits(edit):
    text = spec.spec_text()
    assert spec.normative_digest(edit(text)) != spec.normative_digest(text)


def test_normative_text_keeps_every_requirement_and_drops_every_rationale():
    normative = spec.normative_text()
    for c in spec.clauses():
        assert c.requirement in normative, c.id
    assert "**Rationale.**" not in normative
    assert "worked numbers" not in normative and "### Change log" not in normative


# --- the scheme ----------------------------------------------------------------------------


def test_version_order_and_shape():
    assert spec.version_key("2026.12") < spec.version_key("2026.12.1") < spec.version_key("2026.12.10")
    assert spec.version_key("2026.12.10") < spec.version_key("2027.01")
    for bad in ("2026.12.0", "2026.13", "26.12", "2026.12.1.1", "v2026.12"):
        with pytest.raises(ValueError):
            spec.version_key(bad)


def test_next_version_follows_the_calendar():
    assert spec.next_version("2026.12.2", date(2026, 12, 1)) == "2026.12.3"
    assert spec.next_version("2026.12", date(2026, 11, 26)) == "2026.12.1"  # labelled ahead of its month
    assert spec.next_version("2026.12.2", date(2027, 1, 5)) == "2027.01"
    assert spec.next_version("2027.01", date(2027, 1, 31)) == "2027.01.1"


def test_parser_reads_revision_versions_and_changelog_entries():
    text = ("Spec version: 2027.01.3\n### AD-1 — a\nx\n## Versions (informative)\n### Change log\n"
            "#### 2027.01.3 — 2027-01-20\n\n- AD-1: y\n\n#### 2027.01 — 2027-01-02\n\n- first\n")
    assert spec.parse(text)[0] == "2027.01.3"
    assert [(e.version, e.date, e.text) for e in spec.changelog(text)] == [
        ("2027.01.3", "2027-01-20", "- AD-1: y"), ("2027.01", "2027-01-02", "- first")]
    with pytest.raises(ValueError, match="change-log heading"):
        spec.changelog("### Change log\n#### next — soon\n")


def test_citation_metadata_cites_the_current_version():
    version = spec.spec_version()
    cff = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    assert f'version: "{version}"' in cff
    assert f"adamspec SPEC {version}, " in cff
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    cite = readme.split("## How to cite", 1)[1].split("\n## ", 1)[0]
    assert f"adamspec SPEC {version}, " in cite
