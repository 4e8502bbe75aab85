"""Seconds `adamspec identify` takes per built-in adapter and per zoo variant, and what it names.

The figures behind the README's "Which Adam is this?" table. One identify per adapter in this
process (the first torch adapter pays torch's import). The last line printed is one JSON object.

    python bench/identify_times.py
"""

from __future__ import annotations

import json
import time

from adamspec.adapters.registry import load_adapter
from adamspec.conformance.identify import identify

BUILTINS = ["torch.adam.forloop", "torch.adam.foreach", "torch.adam.fused", "torch.adamw.forloop",
            "torch.adamw.foreach", "torch.adamw.fused", "numpy.adam", "numpy.adamw"]
ZOO = ["eps_hat", "eps_over_sqrt_bias_correction", "eps_inside_root", "eps_floor", "no_bias_correction",
       "bias_correction_m_only", "decay_after_update", "decay_not_scaled_by_lr", "amsgrad_over_vhat",
       "corrected_decay", "coupled_l2_as_adamw", "decoupled_as_adam_l2", "eps_squared_inside_root",
       "swapped_betas", "bias_correction_v_only"]


def _named(r) -> str:
    if r.variant is None:
        return "no variant fits"
    out = ", ".join(f"{k} = {v}" for k, v in r.variant.departures().items()) or "canonical"
    return out + (f"; computes {r.computes}" if r.computes else "")


def main() -> None:
    from adamspec.selftest.zoo.catalogue import MUTANTS, adapter

    zoo = {m.name: m for m in MUTANTS}
    rows = []
    for name, make in [*((n, lambda n=n: load_adapter(n)) for n in BUILTINS),
                       *((f"zoo {n}", lambda n=n: adapter(zoo[n])) for n in ZOO)]:
        start = time.perf_counter()
        r = identify(make())
        seconds = time.perf_counter() - start
        rows.append({"adapter": name, "identified": _named(r), "seconds": round(seconds, 1)})
        print(f"{name:40s} {rows[-1]['identified']:55s} {seconds:6.1f} s", flush=True)
    print(json.dumps({"identify": rows}))


if __name__ == "__main__":
    main()
