"""The ``adamspec`` command line (also ``python -m adamspec``).

Exit codes: 0 success, 2 usage error (unknown clause, bad option).
"""

from __future__ import annotations

import argparse
import sys
import textwrap

import adamspec


def _version_line() -> str:
    return f"adamspec {adamspec.__version__} (spec {adamspec.spec_version()})"


def _cmd_spec(args) -> int:
    from adamspec import spec

    if not args.clause:
        print(f"SPEC {spec.spec_version()}: {len(spec.clauses())} clauses")
        for c in spec.clauses():
            print(f"{c.id:<10} {c.title}")
        return 0
    status = 0
    for wanted in args.clause:
        try:
            c = spec.clause(wanted)
        except KeyError as exc:
            print(f"adamspec spec: {exc.args[0]}", file=sys.stderr)
            status = 2
            continue
        print(f"{c.id} — {c.title}  (SPEC {spec.spec_version()})\n")
        print(textwrap.indent(c.text, "  "))
        print()
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adamspec",
        description="Executable spec and conformance suite for Adam, Adam+L2 and AdamW.",
        epilog="Exit codes: 0 success; 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=_version_line())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p_spec = sub.add_parser("spec", help="list the spec's clauses, or print the ones named")
    p_spec.add_argument("clause", nargs="*", metavar="ID", help="clause IDs, e.g. AW-3")
    p_spec.set_defaults(func=_cmd_spec)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.func(args)
