"""False-alarm sweep: every built-in adapter, every seed, a profile (prints numbers).

    python bench/sweep.py --profile ci --seeds 20
    python bench/sweep.py --profile default --seeds 3 --adapters torch.adamw.fused numpy.adamw

A run counts as a false alarm when a correct built-in adapter comes out anything but
"conformant" (known deviations are expected failures, not alarms). Last line: one JSON
object with the runs, the false alarms, and the wall time per adapter.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from adamspec.adapters.registry import builtin_names, load_adapter, sweep_exclusions
from adamspec.conformance.runner import run


def _one(job):
    name, seed, profile = job
    start = time.perf_counter()
    result = run(load_adapter(name), profile, seed)
    bad = [f"{v.clause}:{v.verdict}" for v in result.verdicts
           if v.verdict in ("fail", "error")]
    if bad:  # keep the evidence of every alarm
        from adamspec.conformance.report_text import counterexample_text

        for v in result.verdicts:
            if v.verdict in ("fail", "error"):
                text = counterexample_text(v.counterexample) if v.counterexample else v.reason
                print(f"--- alarm {name} seed {seed} {v.property}: {v.reason}\n{text}\n"
                      f"{v.counterexample.case_json if v.counterexample else ''}", file=sys.stderr, flush=True)
    return name, seed, result.verdict, time.perf_counter() - start, bad


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="ci", choices=("ci", "default", "thorough"))
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--adapters", nargs="*", default=None)
    ap.add_argument("--workers", type=int, default=1, help="processes (wall times per run grow with load)")
    args = ap.parse_args(argv)
    names = args.adapters or builtin_names(sweep=True)
    if not args.adapters:
        for name, why in sweep_exclusions().items():
            print(f"{name:<22} left out: {why}", flush=True)
    alarms, times, runs = [], {}, 0
    jobs = [(name, seed, args.profile) for name in names for seed in range(args.seeds)]
    with ProcessPoolExecutor(args.workers) as pool:
        for name, seed, verdict, took, bad in pool.map(_one, jobs):
            times.setdefault(name, []).append(took)
            runs += 1
            if verdict != "conformant":
                alarms.append({"adapter": name, "seed": seed, "clauses": bad})
            print(f"{name:<22} seed {seed:>3}  {verdict:<15} {took:6.1f} s  {' '.join(bad)}", flush=True)
    print(json.dumps({"profile": args.profile, "runs": runs, "false_alarms": len(alarms), "alarms": alarms,
                      "median_seconds": {k: round(statistics.median(v), 1) for k, v in times.items()},
                      "max_seconds": {k: round(max(v), 1) for k, v in times.items()}}))


if __name__ == "__main__":
    main()
