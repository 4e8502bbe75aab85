"""The ``adamspec`` command line (also ``python -m adamspec``).

Exit codes (documented in README and --help):
  0  conformant (or the command succeeded)
  1  non-conformant: at least one clause failed, or the implementation raised or hung inside
     an example (or a replayed counterexample still fails)
  2  usage error: bad option, unknown built-in adapter, a module:attr that imports nothing,
     an optimizer class without --claim, an unknown clause, nothing applicable to the adapter
  3  the adapter imported but could not be built, or crashed outside any single example
Progress goes to stderr; results go to stdout or -o FILE.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

import adamspec

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_ADAPTER = 0, 1, 2, 3
FORMATS = ("terminal", "json", "junit", "markdown")


def _version_line() -> str:
    return f"adamspec {adamspec.__version__} (spec {adamspec.spec_version()})"


def _err(msg: str) -> None:
    print(f"adamspec: {msg}", file=sys.stderr)


def _cmd_spec(args) -> int:
    from adamspec import spec

    if not args.clause:
        print(f"SPEC {spec.spec_version()}: {len(spec.clauses())} clauses")
        for c in spec.clauses():
            print(f"{c.id:<10} {c.title}")
        return EXIT_OK
    status = EXIT_OK
    for wanted in args.clause:
        try:
            c = spec.clause(wanted)
        except KeyError as exc:
            _err(exc.args[0])
            status = EXIT_USAGE
            continue
        print(f"{c.id} — {c.title}  (SPEC {spec.spec_version()})\n")
        print(textwrap.indent(c.text, "  "))
        print()
    return status


def _load(name: str, claim: str | None):
    """The one loader of every command that runs an adapter (run, bench, replay): (adapter, None),
    or (None, exit status) with the reason already printed — 2 for a name that resolves to
    nothing, 3 for an adapter that cannot be built or cannot run on this machine (its
    ``unavailable_reason``: no torch, no GPU)."""
    from adamspec.adapters.base import AdapterError
    from adamspec.adapters.registry import UsageError, load_adapter, unavailable_reason

    try:
        adapter = load_adapter(name, claim)
    except UsageError as exc:
        _err(str(exc))
        return None, EXIT_USAGE
    except AdapterError as exc:
        _err(str(exc))
        return None, EXIT_ADAPTER
    why = unavailable_reason(adapter)
    if why:
        _err(f"adapter {name} cannot be built here: {why}")
        return None, EXIT_ADAPTER
    return adapter, None


def _cmd_adapters(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from adamspec.adapters.registry import builtin_names, load_adapter, unavailable_reason

    rows = []
    for name in builtin_names():
        adapter = load_adapter(name)
        why = unavailable_reason(adapter)
        rows.append({"name": name, "runs_here": why is None, "why_not": why,
                     "capabilities": adapter.capabilities.as_dict()})
    if args.format == "json":
        print(json.dumps({"adapters": rows}, indent=2, default=str))
        return EXIT_OK
    table = Table(title="Built-in adapters")
    for col in ("name", "modes", "dtypes (compute)", "runs here", "notes"):
        table.add_column(col)
    for r in rows:
        caps = r["capabilities"]
        dt = ", ".join(f"{d} ({caps['compute'][d]})" if caps["compute"][d] != d else d for d in caps["dtypes"])
        table.add_row(r["name"], ", ".join(caps["modes"]), dt, "yes" if r["runs_here"] else f"no: {r['why_not']}",
                      caps["notes"])
    Console(width=None if sys.stdout.isatty() else 160).print(table)
    return EXIT_OK


def _render(result, fmt: str, out) -> None:
    if fmt == "json":
        from adamspec.conformance.report_json import to_json

        out.write(to_json(result) + "\n")
    elif fmt == "junit":
        from adamspec.conformance.report_junit import to_junit

        out.write(to_junit(result) + "\n")
    elif fmt == "markdown":
        from adamspec.conformance.report_markdown import to_markdown

        out.write(to_markdown(result) + "\n")
    else:
        from rich.console import Console

        from adamspec.conformance.report_terminal import render

        # A terminal gets its own width; a pipe or file gets room for the title column.
        tty = hasattr(out, "isatty") and out.isatty()
        render(result, Console(file=out, width=None if tty else 150))


def _exit_status(result) -> int:
    """1 when a clause failed or the implementation raised/hung inside an example; 2 when
    nothing selected applies to the adapter (a vacuous run must not read as a pass)."""
    if any(v.verdict in ("fail", "error") for v in result.verdicts):
        return EXIT_FAIL
    if result.verdict != "conformant":
        _err("nothing in this run applies to the adapter: every selected property is not applicable")
        return EXIT_USAGE
    return EXIT_OK


def _cmd_run(args) -> int:
    from adamspec.conformance import deviations as dev
    from adamspec.conformance.runner import run, select

    adapter, status = _load(args.adapter, args.claim)
    if adapter is None:
        return status
    if args.dtypes:
        from adamspec.adapters.registry import UsageError, with_dtypes

        try:
            adapter = with_dtypes(adapter, args.dtypes)
        except UsageError as exc:
            _err(str(exc))
            return EXIT_USAGE
    if args.variant and _declare(adapter, args.variant):
        return EXIT_USAGE
    try:
        props = select(args.clause)
    except KeyError as exc:
        _err(exc.args[0])
        return EXIT_USAGE
    deviations = dev.builtin()
    for path in args.deviations or []:
        try:
            deviations += dev.load(path)
        except (OSError, ValueError) as exc:
            _err(f"cannot read known deviations {path}: {exc}")
            return EXIT_USAGE
    progress, finish = _progress(len(props), quiet=args.quiet)
    try:
        result = run(adapter, args.profile, args.seed, clauses=args.clause, max_failures=args.max_failures,
                     progress=progress, deviations=deviations, example_timeout=args.example_timeout,
                     replay_dir=args.replay_dir)
    except Exception as exc:  # crashed outside any single example (e.g. while building)
        finish()
        _err(f"adapter {args.adapter} crashed outside any example: {type(exc).__name__}: {exc}")
        return EXIT_ADAPTER
    finish()
    for w in result.warnings:
        _err(f"warning: {w}")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            _render(result, args.format, fh)
    else:
        _render(result, args.format, sys.stdout)
    return _exit_status(result)


def _declare(adapter, pairs) -> bool:
    """Apply ``--variant`` pairs to the adapter's record; True (reason printed) when they are bad."""
    from adamspec.adapters.registry import UsageError, with_variant

    try:
        with_variant(adapter, pairs)
    except UsageError as exc:
        _err(str(exc))
        return True
    return False


def _progress(total: int, quiet: bool):
    """A rich progress bar on stderr: one tick per property, the current clause shown."""
    if quiet:
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    task = bar.add_task("starting", total=total)
    bar.start()

    def progress(prop, verdict):
        if verdict is None:
            bar.update(task, description=f"{prop.clause} {prop.name}")
        else:
            bar.advance(task)

    return progress, bar.stop


def _cmd_replay(args) -> int:
    from adamspec.conformance import replay
    from adamspec.conformance.registry import Collector, Violation, load
    from adamspec.conformance.report_text import counterexample_text
    from adamspec.conformance.runner import _counterexample

    try:
        payload = replay.decode(args.token)
    except (ValueError, OSError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    prop = load().get(payload.property)
    if prop is None:
        _err(f"the payload names property {payload.property!r}, which this adamspec does not have")
        return EXIT_USAGE
    adapter, status = _load(args.adapter or payload.adapter, args.claim or payload.claim)
    if adapter is None:
        return status
    if args.variant and _declare(adapter, args.variant):
        return EXIT_USAGE
    try:
        prop.check(adapter, payload.case, Collector())
    except Violation as v:
        v.case = v.case or payload.case
        print(counterexample_text(_counterexample(prop, adapter.capabilities.name, v, payload.claim)))
        print(f"\nreplayed: {prop.clause} {prop.name} FAILS on {adapter.capabilities.name}")
        return EXIT_FAIL
    except Exception as exc:
        print(f"replayed: {prop.clause} {prop.name} raised {type(exc).__name__}: {exc}")
        return EXIT_FAIL
    print(f"replayed: {prop.clause} {prop.name} passes on {adapter.capabilities.name}")
    return EXIT_OK


def _cmd_plot(args) -> int:
    try:
        from adamspec.conformance import plots

        if args.what == "decay":
            path = plots.plot_decay(args.output or "decay.png", args.lr, args.wd, args.t)
        else:
            if not args.report:
                _err("plot headroom needs a JSON report: adamspec plot headroom REPORT.json")
                return EXIT_USAGE
            path = plots.plot_headroom(args.report, args.output or "headroom.png")
    except ImportError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except (OSError, ValueError, KeyError) as exc:
        _err(f"cannot plot: {exc}")
        return EXIT_USAGE
    print(path)
    return EXIT_OK


def _cmd_bench(args) -> int:
    import json

    from adamspec.throughput import bench

    adapter, status = _load(args.adapter, args.claim)
    if adapter is None:
        return status
    if args.dtype not in adapter.capabilities.dtypes:
        _err(f"{adapter.capabilities.name} does not support dtype {args.dtype}")
        return EXIT_USAGE
    try:
        r = bench(adapter, args.numel, args.dtype, args.reps)
    except ImportError:
        _err("adamspec bench times steps with torch: pip install 'adamspec[torch]'")
        return EXIT_USAGE
    print(f"{r['adapter']} on {r['device']}, {r['numel']:,} {r['dtype']} parameters, mode {r['mode']}, "
          f"timing {r['timed']}")
    spread = r["seconds_spread"] * 1e3
    print(f"  {r['seconds_per_step'] * 1e3:9.3f} ms per step (best of 3 × {args.reps}, spread {spread:.3f} ms)")
    print(f"  {r['param_steps_per_s']:.3e} parameter-steps/s")
    print(f"  {r['effective_bytes_per_s'] / 1e9:9.2f} GB/s effective (7 words per parameter)")
    print(f"  {r['copy_bytes_per_s'] / 1e9:9.2f} GB/s copy bandwidth (read + write): "
          f"{100 * r['fraction_of_copy']:.0f}% of it")
    print(json.dumps(r))
    if args.verify:  # one step at this size, every element judged (adamspec/verify.py)
        from adamspec.verify import verdict_lines, verify_step

        r = verify_step(adapter, args.numel, args.dtype)
        print("\n".join(verdict_lines(r)))
        print(json.dumps(r))
        return EXIT_OK if r["ok"] else EXIT_FAIL
    return EXIT_OK


def _cmd_identify(args) -> int:
    import json

    from adamspec.conformance.identify import identify

    adapter, status = _load(args.adapter, args.claim)
    if adapter is None:
        return status
    if args.mode is not None and args.mode not in adapter.capabilities.modes:
        _err(f"{adapter.capabilities.name} implements {', '.join(sorted(adapter.capabilities.modes))}, not {args.mode}")
        return EXIT_USAGE
    r = identify(adapter, args.mode)
    if args.format == "json":
        print(json.dumps(r.as_dict()))
    else:
        print(f"{r.adapter}: one designed step per variant knob, {r.storage} storage")
        for k in r.knobs:
            head = f"  {k.knob} ({k.clause}): "
            if not k.distance:
                print(head + f"not probed — {k.reason}")
                continue
            fits = ", ".join(repr(x) for x in k.fits) or "none"
            dist = ", ".join(f"{x!r} {d:.3g}" for x, d in k.distance.items())
            print(head + f"fits {fits}   (distance in bounds: {dist})")
            p = k.probe
            print(f"      case: θ = {float(p.before.theta[0])!r}, g = {float(p.grad[0])!r}, "
                  f"t_prev = {p.before.step or 0}, lr = {p.hyper.lr!r}, β₂ = {p.hyper.beta2!r}, "
                  f"ε = {p.hyper.eps!r}, λ = {p.hyper.weight_decay!r}; "
                  f"θ after: stored {k.got['theta']!r}, predicted "
                  + ", ".join(f"{x!r} {pred['theta']!r}" for x, pred in p.predicted.items()))
        if r.computes is not None and r.computes != r.mode:
            print(f"computes mode {r.computes}, not the mode {r.mode} it runs as "
                  f"({'coupled L2, L2-1' if r.computes == 'adam_l2' else 'decoupled decay, AW-1'})")
        closest = r.closest.departures() or "canonical"
        declared = adapter.capabilities.variant.departures() or "canonical"
        if r.variant is not None:
            print(f"variant: {closest}" + ("" if r.variant == adapter.capabilities.variant
                                          else f" (the capability record declares {declared})"))
        else:
            print(f"no variant fits; closest: {closest}; still off: " + "; ".join(r.off))
    return EXIT_OK if r.variant is not None else EXIT_FAIL


def _cmd_selftest(args) -> int:
    try:
        from adamspec.selftest import selftest
    except ImportError as exc:
        _err(f"selftest needs torch (the zoo is torch optimizers): {exc}")
        return EXIT_USAGE
    summary = selftest(args.seeds, tuple(args.profile), args.workers)
    ok = all(summary[f"killed_{p}"] == summary["mutants"] for p in args.profile) and not summary["false_alarms"]
    return EXIT_OK if ok else EXIT_FAIL


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__.split("\n\n", 1)[1]
    parser = argparse.ArgumentParser(
        prog="adamspec", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Executable spec and conformance suite for Adam, Adam+L2 and AdamW.",
        epilog=doc)
    parser.add_argument("--version", action="version", version=_version_line())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run the conformance suite against an adapter",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=doc)
    p.add_argument("--adapter", required=True,
                   help="built-in name (see `adamspec adapters`) or package.module:attr")
    p.add_argument("--claim", choices=("adam", "adam_l2", "adamw"),
                   help="the mode an optimizer class claims to compute (required for a class)")
    p.add_argument("--profile", choices=("ci", "default", "thorough"), default="ci")
    p.add_argument("--seed", type=int, help="hypothesis seed (ci is derandomised without one)")
    p.add_argument("--clause", nargs="+", metavar="ID", help="only the properties checking these clauses")
    p.add_argument("--max-failures", type=int, metavar="N", help="stop after N failing properties")
    p.add_argument("--dtypes", nargs="+", metavar="DTYPE",
                   help="judge only these storage dtypes (a subset of the adapter's)")
    p.add_argument("--format", choices=FORMATS, default="terminal")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--deviations", "--expect", dest="deviations", action="append", metavar="FILE",
                   help="known deviations (TOML [[deviation]] entries), beside the built-in ones; "
                        "each excuses exactly the failure it names (repeatable)")
    p.add_argument("--replay-dir", default="adamspec-cases", metavar="DIR",
                   help="where counterexamples too large for a replay token are written (default %(default)s)")
    p.add_argument("--example-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="per-example time limit; a hanging example is an error naming its clause")
    p.add_argument("--variant", nargs="+", metavar="KNOB=VALUE",
                   help="judge against this declared variant (SPEC VAR-1), e.g. eps_placement=hat; "
                        "replay its counterexamples with the same --variant")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("bench", help="time the step of an adapter; parameter-steps/s and bandwidth")
    p.add_argument("--adapter", required=True)
    p.add_argument("--claim", choices=("adam", "adam_l2", "adamw"))
    p.add_argument("--numel", type=int, default=2**24)
    p.add_argument("--dtype", choices=("float32", "float64", "bfloat16"), default="float32")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--verify", action="store_true",
                   help="also run one step at this size and judge every element of θ, m, v against the "
                        "torch double-double oracle and the bound (progress on stderr; exit 1 on a violation)")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("identify", help="which Adam is this: each variant knob from one designed step (SPEC VAR-*)")
    p.add_argument("--adapter", required=True, help="built-in name or package.module:attr")
    p.add_argument("--claim", choices=("adam", "adam_l2", "adamw"), help="for an optimizer class: its mode")
    p.add_argument("--mode", choices=("adam", "adam_l2", "adamw"),
                   help="the mode to probe (default: the adapter's adamw, else its last)")
    p.add_argument("--format", choices=("terminal", "json"), default="terminal")
    p.set_defaults(func=_cmd_identify)

    p = sub.add_parser("selftest", help="the mutant zoo's kill matrix and the false-alarm sweep (numbers)")
    p.add_argument("--seeds", type=int, default=20, help="seeds per correct adapter (default 20)")
    p.add_argument("--profile", nargs="+", choices=("ci", "default"), default=["ci", "default"])
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    p.set_defaults(func=_cmd_selftest)

    p = sub.add_parser("adapters", help="list built-in adapters and whether each can run here")
    p.add_argument("--format", choices=("terminal", "json"), default="terminal",
                   help="json: each adapter's name, whether it runs here (and why not), its capability record")
    p.set_defaults(func=_cmd_adapters)

    p = sub.add_parser("spec", help="list the spec's clauses, or print the ones named")
    p.add_argument("clause", nargs="*", metavar="ID", help="clause IDs, e.g. AW-3")
    p.set_defaults(func=_cmd_spec)

    p = sub.add_parser("plot", help="decay: Adam+L2 vs AdamW decay factor; headroom: from a JSON report")
    p.add_argument("what", choices=("decay", "headroom"))
    p.add_argument("report", nargs="?", help="JSON report (for headroom)")
    p.add_argument("-o", "--output", metavar="FILE", help="PNG or SVG path (default decay.png / headroom.png)")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--wd", type=float, default=0.1)
    p.add_argument("--t", type=int, default=1001, help="the step count at the step (default 1001)")
    p.set_defaults(func=_cmd_plot)

    p = sub.add_parser("replay", help="re-run one counterexample exactly (token or file)")
    p.add_argument("token", metavar="FILE|TOKEN")
    p.add_argument("--adapter", help="override the adapter named in the payload")
    p.add_argument("--claim", choices=("adam", "adam_l2", "adamw"))
    p.add_argument("--variant", nargs="+", metavar="KNOB=VALUE", help="the declared variant the run judged against")
    p.set_defaults(func=_cmd_replay)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 on usage errors, 0 for --help/--version
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader (e.g. `head`) went away: not an error of ours
        sys.stderr.close()
        return EXIT_OK
