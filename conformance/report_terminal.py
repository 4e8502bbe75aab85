"""The report on a terminal, with rich: a table of verdicts, the failures, a summary line.

Every piece of text from the run is passed to rich as ``Text`` (never as markup), so clause
titles, messages and the ``[0x3f80]``-like parts of a counterexample print as they are.
"""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from adamspec.conformance.report_text import (
    VERDICT_LABELS,
    counterexample_text,
    excused_text,
    fmt_fraction,
    fmt_seconds,
    fmt_ulps,
    run_label,
    summary_line,
    verdict_label,
)
from adamspec.conformance.results import PropertyVerdict, RunResult

VERDICT_STYLES = {"pass": "green", "fail": "bold red", "not-applicable": "dim", "error": "bold magenta"}
EXPECTED_STYLE = "yellow"
RUN_STYLES = {"conformant": "bold green", "non-conformant": "bold red", "error": "bold magenta"}


def _style(v: PropertyVerdict) -> str:
    if v.verdict == "pass" and v.excused:
        return EXPECTED_STYLE
    return VERDICT_STYLES.get(v.verdict, "")


def verdict_table(result: RunResult) -> Table:
    table = Table(title=Text(f"adamspec: {result.adapter} ({run_label(result)})"),
                  title_justify="left", header_style="bold")
    table.add_column("Clause", no_wrap=True)
    table.add_column("Title", ratio=1)
    table.add_column("Verdict", no_wrap=True)
    table.add_column("Examples", justify="right", no_wrap=True)
    table.add_column("Worst ULP", justify="right", no_wrap=True)
    # the share of the error bound used: 0.43 means 43 % of the allowance (SPEC NUM-4)
    table.add_column("Bound used", justify="right", no_wrap=True)
    table.add_column("Time", justify="right", no_wrap=True)
    for v in result.verdicts:
        table.add_row(
            Text(v.clause),
            Text(v.title),
            Text(verdict_label(v), style=_style(v)),
            str(v.examples),
            fmt_ulps(v.max_ulp),
            fmt_fraction(v.max_bound_fraction),
            fmt_seconds(v.seconds),
        )
    return table


def _panels(v: PropertyVerdict) -> list[Panel]:
    """One panel per failure (or the reason alone), and one per known deviation seen."""
    style = VERDICT_STYLES.get(v.verdict, "")
    title = Text(f"{VERDICT_LABELS[v.verdict]}: {v.clause} {v.property}", style=style)
    out = []
    if v.verdict in ("fail", "error"):
        bodies = [counterexample_text(cx) for cx in v.failures] or ["(no counterexample recorded)"]
        if v.reason:
            bodies[0] = f"{v.reason}\n\n{bodies[0]}" if v.failures else v.reason
        out += [Panel(Text(b), title=title, title_align="left", border_style=style, expand=False) for b in bodies]
    for x in v.excused:
        out.append(Panel(Text(excused_text(x)), title=Text(f"known deviation: {x.label} ({v.property})",
                                                           style=EXPECTED_STYLE),
                         title_align="left", border_style=EXPECTED_STYLE, expand=False))
    return out


def render(result: RunResult, console: Console) -> None:
    """Print the run's report on ``console``."""
    console.print(verdict_table(result))
    for v in result.verdicts:
        for panel in _panels(v):
            console.print(panel)
    for w in result.warnings:
        console.print(Text(f"warning: {w}", style=EXPECTED_STYLE), soft_wrap=True)
    console.print(Text(summary_line(result), style=RUN_STYLES.get(result.verdict, "")), soft_wrap=True)
