"""The conformance matrix: every built-in adapter that runs here, at one profile, each in its own
process (`adamspec run` and `adamspec identify`, JSON), into one JSON file and a Markdown table.

    python bench/matrix.py --profile ci --json bench/matrix.json --markdown bench/matrix.md

Adapters that cannot run here (no GPU, library not installed) are listed with the reason, never
silently dropped. The compiled torch adapters take minutes each at `ci`: they are left out unless
named (`--adapters …`) or `--all` is given. Progress goes to stderr. The README's matrix is this
script's Markdown, and the JSON it came from is committed beside it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import subprocess
import sys
import time
from pathlib import Path

from adamspec.adapters.registry import BUILTIN, sweep_exclusions, unavailable_reason
from adamspec.reference.hyper import CANONICAL, KNOBS

# the distribution that holds each adapter family's implementation
LIBRARIES = {"torch": "torch", "timm": "timm", "bitsandbytes": "bitsandbytes", "optax": "optax", "mlx": "mlx",
             "keras": "keras", "numpy": "adamspec"}


_CANONICAL = {k: getattr(CANONICAL, k) for k in KNOBS}  # the one knob table (reference/hyper.py)


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def _cli(*args: str, timeout: int) -> tuple[int, dict | None, float]:
    """``adamspec ARGS --format json`` in a process of its own: exit status, the JSON it printed
    (None if it printed none) and the seconds it took."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "adamspec", *args, "--format", "json"],
                          capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    doc = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else None
    return proc.returncode, doc, seconds


def row(name: str, profile: str, timeout: int, identify: bool = True) -> dict:
    family = name.split(".", 1)[0]
    library = LIBRARIES.get(family, family)
    rc, doc, seconds = _cli("run", "--adapter", name, "--profile", profile, "-q", timeout=timeout)
    out = {"adapter": name, "library": library, "version": _version(library), "exit": rc, "seconds": round(seconds, 1)}
    if doc is None:
        return out | {"verdict": "error", "why": f"adamspec run exited {rc} without a report"}
    caps = doc["capabilities"]
    excused = sorted({x["label"] for p in doc["properties"] for x in p["excused"]})
    fractions = [p["max_bound_fraction"] for p in doc["properties"] if isinstance(p.get("max_bound_fraction"), float)]
    out |= {"verdict": doc["verdict"], "modes": caps["modes"], "dtypes": caps["dtypes"], "excused": excused,
            "failed": sorted({c for p in doc["properties"] for c in p.get("refuted", [])}),
            "not_applicable": sorted(p["property"] for p in doc["properties"] if p["verdict"] == "not-applicable"),
            "worst_bound_fraction": round(max(fractions), 3) if fractions else None,
            "warnings": doc.get("warnings", [])}
    if not identify:
        return out
    irc, ident, iseconds = _cli("identify", "--adapter", name, timeout=timeout)
    if ident is not None:
        # a knob left at its canonical value, or None (identify could not probe it), is no departure
        departures = {k: v for k, v in ident["variant"].items() if v is not None and v != _CANONICAL.get(k)}
        out |= {"identified": departures or "canonical", "computes": ident.get("computes"),
                "identify_seconds": round(iseconds, 1)}
    return out


def markdown(rows: list[dict], skipped: dict[str, str], profile: str) -> str:
    lines = [f"| adapter | library | modes | dtypes | verdict at `{profile}` | identified | known deviations "
             "excused | worst share of the bound | seconds (run + identify) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ident = r.get("identified", "-")
        if isinstance(ident, dict):
            ident = ", ".join(f"{k} = {v}" for k, v in ident.items())
        if r.get("computes"):  # the mode identify probed, as the results fit it
            ident += f", computes {r['computes']}"
        lines.append(f"| `{r['adapter']}` | {r['library']} {r['version']} | {', '.join(r.get('modes', []))} | "
                     f"{', '.join(r.get('dtypes', []))} | {r['verdict']}"
                     + (f" (fails {', '.join(r['failed'])})" if r.get("failed") else "")
                     + f" | {ident} | {'; '.join(r.get('excused', [])) or '-'} | "
                     f"{r.get('worst_bound_fraction', '-')} | {r['seconds']} + {r.get('identify_seconds', '-')} |")
    for name, why in skipped.items():
        lines.append(f"| `{name}` | | | | not run: {why} | | | | |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="ci", choices=["ci", "default", "thorough"])
    ap.add_argument("--adapters", nargs="+", help="these built-ins only (default: every one that runs here)")
    ap.add_argument("--all", action="store_true", help="include the compiled torch adapters (minutes each)")
    ap.add_argument("--json", help="where the JSON goes (a run: default bench/matrix.json; --from-json: none)")
    ap.add_argument("--markdown", default="bench/matrix.md")
    ap.add_argument("--timeout", type=int, default=3600, help="per adapter and command, in seconds")
    ap.add_argument("--no-identify", action="store_true",
                    help="run only (identify does not depend on the profile: take it from a ci matrix)")
    ap.add_argument("--from-json", metavar="FILE", nargs="+",
                    help="write the Markdown (and, with --json, the JSON) of earlier runs' JSON, a later file's row "
                         "replacing an earlier one of the same adapter; run nothing")
    args = ap.parse_args(argv)
    if args.from_json:
        docs = [json.loads(Path(f).read_text(encoding="utf-8")) for f in args.from_json]
        if len({d["profile"] for d in docs}) != 1:
            ap.error("--from-json: the files hold runs at different profiles")
        rows = {r["adapter"]: r for d in docs for r in d["rows"]}
        doc = {"command": " ; ".join(d["command"] for d in docs), "profile": docs[0]["profile"],
               "rows": list(rows.values()), "not_run": {k: v for d in docs for k, v in d["not_run"].items()}}
        if args.json:
            Path(args.json).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        Path(args.markdown).write_text(markdown(doc["rows"], doc["not_run"], doc["profile"]), encoding="utf-8")
        return 0
    args.json = args.json or "bench/matrix.json"
    excluded = sweep_exclusions()
    if args.adapters:
        unknown = [n for n in args.adapters if n not in BUILTIN]
        if unknown:
            ap.error(f"unknown adapters: {unknown}")
        names, skipped = args.adapters, {}
    else:
        # every run here is a process of its own, so an adapter a shared sweep leaves out
        # (sweep_alone) runs; one that cannot run here, or the compiled ones without --all, do not
        skipped = {n: why for n, why in excluded.items()
                   if unavailable_reason(BUILTIN[n]()) or (not args.all and "compiled" in n.rsplit(".", 1)[-1])}
        names = [n for n in BUILTIN if n not in skipped]
    rows = []
    for i, name in enumerate(names, 1):
        print(f"[{i}/{len(names)}] {name} …", file=sys.stderr, flush=True)
        rows.append(row(name, args.profile, args.timeout, identify=not args.no_identify))
        print(f"    {rows[-1]['verdict']} in {rows[-1]['seconds']} s", file=sys.stderr, flush=True)
    doc = {"command": "python bench/matrix.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "profile": args.profile, "rows": rows, "not_run": skipped}
    Path(args.json).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    Path(args.markdown).write_text(markdown(rows, skipped, args.profile), encoding="utf-8")
    print(f"wrote {args.json} and {args.markdown}", file=sys.stderr)
    return 0 if all(r["verdict"] == "conformant" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
