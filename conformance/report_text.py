"""Plain-text pieces shared by every report format, and the TestFloat-style failure block.

``counterexample_text`` is the one description of a failure: the terminal, Markdown and
JUnit reports all embed it verbatim. The small formatting helpers (numbers, hex, verdict
labels, the summary line) live here too, so that every format prints the same thing.
"""

from __future__ import annotations

import math
import re
import textwrap

import numpy as np

from adamspec.conformance.results import Counterexample, Element, Excused, PropertyVerdict, RunResult

VERDICT_LABELS = {"pass": "pass", "fail": "FAIL", "not-applicable": "not applicable", "error": "error"}

# display names of the step inputs, in the order they are printed
INPUT_LABELS = {"theta": "θ", "g": "g", "m": "m", "v": "v", "vmax": "vmax"}

_HEX_TRAILING_ZEROS = re.compile(r"^(-?0x[01])(?:\.([0-9a-f]*?))?0*(p[-+]?\d+)$")
_REQUIREMENT_WIDTH = 100


# -- numbers -----------------------------------------------------------------------------------


def fmt_value(x: float) -> str:
    """A stored value, exactly: the shortest decimal that reads back as the same binary64."""
    return repr(float(x))


def hex64(x: float) -> str:
    """C99 hex of the binary64 value (``float.hex``); "inf", "-inf", "nan" for non-finite values."""
    return float.hex(float(x))


def hex_short(x: float) -> str:
    """``hex64`` without the trailing zeros of the significand (still valid C99: 0x1.9ap-4)."""
    h = hex64(x)
    m = _HEX_TRAILING_ZEROS.match(h)
    if not m:
        return h  # inf, nan
    head, frac, exp = m.groups()
    return f"{head}.{frac}{exp}" if frac else f"{head}{exp}"


def storage_bits(x: float, storage: str) -> str | None:
    """The raw bits of ``x`` in a narrower storage dtype (``0x3dcd`` for bfloat16).

    None for binary64 storage (the hex already is the bits), for an unknown dtype, and for a
    value that the storage dtype cannot hold exactly (then there are no bits to show).
    """
    from adamspec.reference.floats import float_format, to_bits

    try:
        fmt = float_format(storage)
    except ValueError:
        return None
    if fmt.dtype.itemsize >= 8:
        return None
    x = float(x)
    with np.errstate(over="ignore", invalid="ignore"):
        stored = np.asarray(x).astype(fmt.dtype)
    back = float(stored.astype(np.float64))
    if not (back == x or (math.isnan(back) and math.isnan(x))):
        return None
    return f"0x{int(to_bits(stored)):0{2 * fmt.dtype.itemsize}x}"


def _fmt_measure(x: float | None, fixed: int, lo: float, hi: float) -> str:
    """A measured error: "-" when not measured, fixed-point between lo and hi, else 2 significant digits."""
    if x is None:
        return "-"
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    return f"{x:.{fixed}f}" if lo <= abs(x) < hi else f"{x:.2g}"


def fmt_ulps(x: float | None) -> str:
    """An error in ULPs: 0, 0.5, 3.0, 1.2e+06; "-" when not measured."""
    return _fmt_measure(x, 1, 0.05, 1e5)


def fmt_fraction(x: float | None) -> str:
    """A fraction of the bound: 0.43, 1.50, 2.3e+08; "-" when not measured."""
    return _fmt_measure(x, 2, 0.005, 1e4)


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


def fmt_index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def fmt_hyper(hyper: dict) -> str:
    """``lr=0.001 beta1=0.9 ...`` in the dict's order; floats exactly (shortest repr)."""
    parts = []
    for k, v in hyper.items():
        if isinstance(v, (float, np.floating)):
            v = fmt_value(v)
        parts.append(f"{k}={v}")
    return " ".join(parts) if parts else "(none)"


# -- verdicts ----------------------------------------------------------------------------------


def verdict_label(v: PropertyVerdict) -> str:
    """``pass``, ``FAIL VAL-3``, ``pass + 1 known deviation``: the verdict, the clauses its
    failures refute, and how many known deviations were seen (and excused) beside it."""
    label = VERDICT_LABELS.get(v.verdict, v.verdict)
    if v.verdict == "fail" and v.failures:
        label += " " + ", ".join(v.clauses_refuted)
    if v.excused:
        n = len(v.excused)
        label += f" + {n} known deviation{'s' if n != 1 else ''}"
    return label


def total_seconds(result: RunResult) -> float:
    """The run's wall time (the properties' times plus what lies between them)."""
    return float(result.seconds or sum(v.seconds for v in result.verdicts))


def summary_line(result: RunResult) -> str:
    """``torch.adamw.fused: conformant — 20 pass, 0 fail, 2 not applicable, 0 error; 3 known
    deviations excused; in 12.3 s``."""
    c = result.counts()
    excused = f"; {c['excused']} known deviation{'s' if c['excused'] != 1 else ''} excused" if c["excused"] else ""
    verdict = result.verdict
    if variant_text(result) and verdict != "error":  # VAR-1: judged against the declared variant
        verdict += f" to variant {{{variant_text(result)}}} (departs from canonical in {variant_clauses(result)})"
    return (f"{result.adapter}: {verdict} — {c['pass']} pass, {c['fail']} fail, "
            f"{c['not-applicable']} not applicable, {c['error']} error{excused}; in {total_seconds(result):.1f} s")


def variant_clauses(result: RunResult) -> str:
    """The VAR clauses of the declared variant's departures, ``VAR-3, VAR-4``."""
    from adamspec.reference.hyper import KNOB_PARAMETERS, KNOBS

    variant = result.capabilities.get("variant", "canonical")
    departed = variant if isinstance(variant, dict) else {}
    knobs = [KNOB_PARAMETERS[k][0] if k in KNOB_PARAMETERS else k for k in departed]
    return ", ".join(sorted({KNOBS[k].clause for k in knobs if k in KNOBS}))


def variant_text(result: RunResult) -> str:
    """The declared variant's departures from canonical, ``eps_placement=hat`` (SPEC VAR-1), or ""."""
    variant = result.capabilities.get("variant", "canonical")
    if not isinstance(variant, dict) or not variant:
        return ""
    return ", ".join(f"{k}={v}" for k, v in variant.items())


def run_label(result: RunResult) -> str:
    """``profile ci, seed 0`` plus the declared variant where it is not canonical (VAR-1)."""
    variant = variant_text(result)
    return f"profile {result.profile}, seed {result.seed}" + (f", variant {variant}" if variant else "")


def excused_text(x: Excused) -> str:
    """A known deviation seen in the run: the entry, its reason, and its own counterexample."""
    head = textwrap.fill(f"known deviation {x.label}: {x.reason}", _REQUIREMENT_WIDTH, break_on_hyphens=False)
    return f"{head}\n\n{counterexample_text(x.counterexample)}"


def requirement_of(clause_id: str) -> str:
    """The clause's normative sentence from SPEC.md, or "" for an unknown clause."""
    from adamspec.spec import clause

    try:
        return clause(clause_id).requirement
    except KeyError:
        return ""


def title_of(clause_id: str) -> str:
    from adamspec.spec import clause

    try:
        return clause(clause_id).title
    except KeyError:
        return ""


# -- the failure block -------------------------------------------------------------------------


def _ordered_inputs(inputs: dict[str, float]) -> list[tuple[str, float]]:
    known = [(k, inputs[k]) for k in INPUT_LABELS if k in inputs]
    rest = sorted((k, x) for k, x in inputs.items() if k not in INPUT_LABELS)
    return known + rest


def _signed(text: str) -> str:
    """A space where a minus sign would be, so that the digits of a column line up."""
    return text if text.startswith(("-", "+")) else " " + text


def _element_rows(e: Element, storage: str) -> list[tuple[str, str, str, str]]:
    """(label, value, C99 hex, storage bits) rows of one element."""

    def row(label: str, value: str, x: float, bits: bool) -> tuple[str, str, str, str]:
        raw = (storage_bits(x, storage) or "") if bits else ""
        return (label, _signed(value), _signed(hex_short(x)), raw)

    rows = [row(INPUT_LABELS.get(name, name), fmt_value(x), x, True) for name, x in _ordered_inputs(e.inputs)]
    rows.append(row("expected", e.expected_digits or fmt_value(e.expected), e.expected, False))
    rows.append(row("bound", fmt_value(e.bound), e.bound, False))
    rows.append(row("got", fmt_value(e.got), e.got, True))
    return rows


def _aligned(rows: list[tuple[str, ...]], indent: str) -> tuple[list[str], list[int]]:
    """Rows as left-aligned columns two spaces apart, and the column widths."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [(indent + "  ".join(c.ljust(w) for c, w in zip(r, widths))).rstrip() for r in rows], widths


def counterexample_text(cx: Counterexample) -> str:
    """The failure block every report embeds: clause, adapter, inputs, expected, got, replay."""
    title = title_of(cx.clause)
    lines = [f"{cx.clause} — {title}" if title else cx.clause]
    if cx.requirement:
        lines.append(textwrap.fill(cx.requirement, _REQUIREMENT_WIDTH, initial_indent="  ",
                                   subsequent_indent="  ", break_on_hyphens=False))
    header = [
        ("adapter", cx.adapter),
        ("message", cx.message),
        ("hyper", fmt_hyper(cx.hyper)),
        ("storage", cx.storage),
        ("step", "(none)" if cx.step is None else f"t = {cx.step}"),
    ]
    width = max(len(k) for k, _ in header)
    lines += [f"{k.ljust(width)}  {v}" for k, v in header]

    if cx.elements:
        n = len(cx.elements)
        lines.append("")
        lines.append(f"{n} offending element{'s' if n != 1 else ''}:")
        # one set of column widths for every element, so the whole block lines up
        blocks = [_element_rows(e, cx.storage) for e in cx.elements]
        has_bits = any(r[3] for b in blocks for r in b)
        head = ("", " value", " C99 hex", f"{cx.storage} bits" if has_bits else "")
        aligned, widths = _aligned([head, *(r for b in blocks for r in b), ("error", "", "", "")], "    ")
        lines.append(aligned[0])
        at = 1
        for i, (e, rows) in enumerate(zip(cx.elements, blocks), 1):
            lines.append(f"  #{i} {e.output}{fmt_index(e.index)} of parameter {e.param}")
            lines += aligned[at:at + len(rows)]
            at += len(rows)
            error = f"{fmt_ulps(e.ulps)} ULP = {fmt_fraction(e.fraction)} × bound"
            lines.append(f"    {'error'.ljust(widths[0])}  {_signed(error)}")
    else:
        lines.append("(no element-level data)")

    if cx.replay:
        lines.append("")
        lines.append(f"replay: {cx.replay}")
    return "\n".join(lines)
