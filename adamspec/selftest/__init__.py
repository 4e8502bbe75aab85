"""``adamspec selftest``: the suite's detection power and false-alarm rate, measured.

Every mutant of the zoo (adamspec/selftest/zoo/) is run at the ``ci`` and ``default`` profiles on
the properties that check its expected clauses; a mutant is killed when one of those
properties fails (or errors, for mutants that crash by design). Every correct adapter —
the built-in ones and the zoo's controls — is then run on N seeds, and any verdict other
than "conformant" is a false alarm. Work is spread over processes, one per core.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor

PROFILES = ("ci", "default")


def _kill(args):
    """(mutant, profile) -> what killed it and when."""
    from adamspec.conformance.runner import run
    from adamspec.selftest import zoo

    name, profile = args
    m = next(x for x in zoo.MUTANTS if x.name == name)
    start = time.perf_counter()
    first = None

    def progress(prop, verdict):
        nonlocal first
        if verdict is not None and verdict.verdict in ("fail", "error") and first is None:
            first = time.perf_counter() - start

    # A generous per-example limit: shrinking a 65,537-element case on a loaded machine is slow,
    # and a timeout here would read as survival.
    result = run(zoo.adapter(m), profile, clauses=m.expected_clauses, progress=progress, deviations=[],
                 example_timeout=900.0)
    # An error verdict (the implementation raised inside an example) also rejects it: the run
    # exits 1 naming the clause, as for a failure.
    killers = [v for v in result.verdicts if v.verdict in ("fail", "error")]
    expected = [v for v in killers if set(v.clauses) & set(m.expected_clauses)]
    return {"mutant": name, "profile": profile, "killed": bool(expected),
            "killed_by": [f"{v.clause} {v.property} ({v.verdict})" for v in expected],
            "failed_clauses": sorted({c for v in killers for c in v.clauses} & set(m.expected_clauses)),
            "seconds_to_first_failure": first, "seconds": time.perf_counter() - start,
            "verdicts": {v.property: v.verdict + (f" ({v.reason[:120]})" if v.reason else "")
                         for v in result.verdicts}}


def _control(args):
    """(adapter name, seed) -> its verdict; a zoo control is 'zoo.<name>'."""
    from adamspec.adapters.registry import load_adapter
    from adamspec.conformance.runner import run
    from adamspec.selftest import zoo

    name, seed = args
    if name.startswith("zoo."):
        adapter = zoo.adapter(next(c for c in zoo.CONTROLS if f"zoo.{c.name}" == name))
    else:
        adapter = load_adapter(name)
    start = time.perf_counter()
    result = run(adapter, "ci", seed)
    bad = [f"{v.clause}:{v.verdict}" for v in result.verdicts
           if v.verdict in ("fail", "error")]
    return {"adapter": name, "seed": seed, "verdict": result.verdict, "bad": bad,
            "seconds": time.perf_counter() - start}


def selftest(seeds: int = 20, profiles=PROFILES, workers: int | None = None, out=print) -> dict:
    from adamspec.adapters.registry import builtin_names, sweep_exclusions
    from adamspec.selftest import zoo

    workers = workers or os.cpu_count() or 1
    start = time.perf_counter()
    jobs = [(m.name, p) for p in profiles for m in zoo.MUTANTS]
    with ProcessPoolExecutor(workers) as pool:
        kills = list(pool.map(_kill, jobs))
        controls = [f"zoo.{c.name}" for c in zoo.CONTROLS] + builtin_names(sweep=True)
        alarms = list(pool.map(_control, [(a, s) for a in controls for s in range(seeds)]))
    by = {(k["mutant"], k["profile"]): k for k in kills}
    out(f"{'mutant':<36} {'expected clauses':<30} " + " ".join(f"{p:<34}" for p in profiles))
    for m in zoo.MUTANTS:
        cells = []
        for p in profiles:
            k = by[(m.name, p)]
            t = k["seconds_to_first_failure"]
            cells.append(f"{'KILLED ' + ','.join(k['failed_clauses']) if k['killed'] else 'survived':<24}"
                         f"{'' if t is None else f'{t:6.2f} s':>10}")
        out(f"{m.name:<36} {' '.join(m.expected_clauses)[:30]:<30} " + " ".join(cells))
    summary = {"mutants": len(zoo.MUTANTS)}
    for p in profiles:
        n = sum(by[(m.name, p)]["killed"] for m in zoo.MUTANTS)
        summary[f"killed_{p}"] = n
        out(f"kill rate ({p}): {n}/{len(zoo.MUTANTS)}")
    for p in profiles:
        for m in zoo.MUTANTS:
            k = by[(m.name, p)]
            if not k["killed"]:
                out(f"survivor ({p}): {m.name}: {k['verdicts']}")
    for name, why in sweep_exclusions().items():
        out(f"not among the controls: {name}: {why}")
    false = [a for a in alarms if a["verdict"] != "conformant"]
    for a in false:
        out(f"false alarm: {a['adapter']} seed {a['seed']}: {a['verdict']} {' '.join(a['bad'])}")
    out(f"false alarms: {len(false)} in {len(alarms)} runs of {len(controls)} correct adapters × {seeds} seeds")
    summary.update({"false_alarms": len(false), "control_runs": len(alarms), "seeds": seeds,
                    "survivors": {p: [m.name for m in zoo.MUTANTS if not by[(m.name, p)]["killed"]]
                                  for p in profiles},
                    "seconds": round(time.perf_counter() - start, 1)})
    out(json.dumps(summary))
    return summary
