"""What a sharded adapter costs: rank-pool start-up and the time of one case, per stack and world size.

Run: python bench/sharded_costs.py [--worlds 2 3 4] [--repeat 20]

Prints one line per (world, adapter): the pool's start (spawn, gloo init, device mesh, once per
world size and process), the first case (imports and first-call work in every rank) and the median
and largest of ``--repeat`` warm cases. The case is fixed: two groups, a (5, 3) parameter with
state (uneven rows on 2 and 4 ranks, an empty shard at 4) and a fresh (7,) one, three steps, read
back gathered after each — what a property example does.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from adamspec.adapters.base import ParamState
from adamspec.adapters.registry import load_adapter
from adamspec.conformance.cases import Case, GroupCase, ParamCase
from adamspec.conformance.execute import execute
from adamspec.reference.hyper import Hyper, Mode

STACKS = ("torch.fsdp2.adamw.foreach", "torch.dtensor.adamw.foreach", "torch.zero.adamw.foreach")


def case() -> Case:
    rng = np.random.default_rng(0)
    held = ParamState(rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((5, 3)).astype(np.float32),
                      rng.random((5, 3)).astype(np.float32), None, 4)
    groups = (GroupCase(Hyper(lr=1e-3, weight_decay=0.1, mode=Mode.ADAMW), (ParamCase(held.theta, state=held),)),
              GroupCase(Hyper(lr=3e-4, beta1=0.8, weight_decay=0.0, mode=Mode.ADAMW),
                        (ParamCase(rng.standard_normal(7).astype(np.float32)),)))
    grads = tuple((rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal(7).astype(np.float32))
                  for _ in range(3))
    return Case(groups, grads)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args(argv)
    c = case()
    print(f"{'world':>5}  {'adapter':<30} {'pool start s':>12} {'first case ms':>13} "
          f"{'median ms':>9} {'max ms':>7}")
    for world in args.worlds:
        for i, name in enumerate(STACKS):
            adapter = load_adapter(f"{name}@{world}")
            t0 = time.perf_counter()
            adapter.warm_up()  # starts the pool of this world size (shared: only the first pays)
            start = time.perf_counter() - t0
            t0 = time.perf_counter()
            execute(adapter, c)
            first = time.perf_counter() - t0
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                execute(adapter, c)
                times.append(time.perf_counter() - t0)
            shown = f"{start:12.2f}" if i == 0 else f"{'(shared)':>12}"
            print(f"{world:>5}  {name:<30} {shown} {first * 1e3:13.0f} {statistics.median(times) * 1e3:9.0f} "
                  f"{max(times) * 1e3:7.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
