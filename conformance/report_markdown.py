"""GitHub-flavoured Markdown, for pull-request comments and job summaries ($GITHUB_STEP_SUMMARY).

A heading with the adapter and the verdict, the summary line, a table with one row per
property, then one collapsed ``<details>`` block per failure and per error with the
counterexample block in a fenced code block, and the reasons of the not-applicable ones.
"""

from __future__ import annotations

import html

from adamspec.conformance.report_text import (
    counterexample_text,
    excused_text,
    fmt_fraction,
    fmt_seconds,
    fmt_ulps,
    summary_line,
    variant_text,
    verdict_label,
)
from adamspec.conformance.results import PropertyVerdict, RunResult


def _line(text: str) -> str:
    """Text on one line."""
    return " ".join(str(text).split())


def _cell(text: str) -> str:
    """Text that stays inside one table cell."""
    return _line(text).replace("|", "\\|")


def _marker(v: PropertyVerdict, bold: tuple[str, str] = ("**", "**")) -> str:
    """pass, _not applicable_, **FAIL** VAL-3, **ERROR**, pass + 1 known deviation."""
    label = verdict_label(v)
    if v.verdict == "pass":
        return label
    if v.verdict == "not-applicable":
        return f"_{label}_"
    head, _, rest = label.partition(" ")
    return f"{bold[0]}{head.upper()}{bold[1]}" + (f" {rest}" if rest else "")


def _fenced(text: str) -> str:
    """A fenced code block whose fence is longer than any backtick run inside the text."""
    longest, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _details(v: PropertyVerdict) -> str:
    what = v.counterexample.message if v.counterexample is not None and v.counterexample.message else v.reason
    what = _line(what)
    summary = f"{_marker(v, ('<b>', '</b>'))} <code>{html.escape(v.clause)}</code> " \
              f"{html.escape(v.property)}" + (f" — {html.escape(what)}" if what else "")
    parts = []
    if v.verdict == "error" or (v.reason and v.failures):
        parts.append(_fenced(v.reason))
    parts += [_fenced(counterexample_text(cx)) for cx in v.failures]
    if v.verdict == "fail" and not v.failures and not v.reason:
        parts.append("(no counterexample recorded)")
    body = "\n\n".join(parts)
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


def _excused_details(v: PropertyVerdict) -> list[str]:
    return [f"<details><summary>known deviation <code>{html.escape(x.label)}</code> "
            f"{html.escape(v.property)} — {html.escape(_line(x.reason))}</summary>\n\n"
            f"{_fenced(excused_text(x))}\n\n</details>" for x in v.excused]


def to_markdown(result: RunResult) -> str:
    lines = [
        f"## adamspec: `{result.adapter}` — **{result.verdict}**",
        "",
        f"{summary_line(result)} (profile `{result.profile}`, seed {result.seed}"
        + (f", variant `{variant_text(result)}`" if variant_text(result) else "") + ")",
        "",
        "| Clause | Title | Verdict | Examples | Max ULP | Max fraction of bound | Time |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for v in result.verdicts:
        clause = ", ".join(v.clauses) if len(v.clauses) > 1 else v.clause
        lines.append(
            f"| {_cell(clause)} | {_cell(v.title)} | {_marker(v)} | {v.examples} | {fmt_ulps(v.max_ulp)} "
            f"| {fmt_fraction(v.max_bound_fraction)} | {fmt_seconds(v.seconds)} |"
        )
    problems = [v for v in result.verdicts if v.verdict in ("fail", "error")]
    if problems:
        lines += ["", "### Failures and errors"]
        for v in problems:
            lines += ["", _details(v)]
    excused = [d for v in result.verdicts for d in _excused_details(v)]
    if excused:
        lines += ["", "### Known deviations seen (excused)"]
        for d in excused:
            lines += ["", d]
    if result.warnings:
        lines += ["", "### Warnings", ""]
        lines += [f"- {_line(w)}" for w in result.warnings]
    not_applicable = [v for v in result.verdicts if v.verdict == "not-applicable"]
    if not_applicable:
        lines += ["", "### Not applicable", ""]
        lines += [f"- `{v.clause}` {_line(v.property)}: {_line(v.reason) or 'no reason given'}"
                  for v in not_applicable]
    return "\n".join(lines).rstrip() + "\n"
