"""Calibration of the derived bound against torch's CPU paths (prints numbers; no assertions).

For each path (for-loop, foreach, fused) × mode × storage dtype × t, over N elements drawn
from the regions where variants differ, it reports the max and 99.9th percentile of
|impl − exact| / B over θ, m, v. Then, for deliberately wrong variants (ε-hat, decay after
the update, ε inside the root) computed exactly, the share of elements in their targeted
region that fall outside the canonical bound and the median |variant − canonical| / B.

    python bench/calibrate.py                 # 2^18 elements per configuration
    python bench/calibrate.py --elements 4096 # a quick look

Last line: one JSON object with the overall maximum fraction per path.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from adamspec.adapters.base import GroupSpec, ParamState
from adamspec.adapters.torch_optim import TorchAdamAdapter
from adamspec.conformance.judge import judge_step
from adamspec.reference import Hyper, Variant, float_format
from adamspec.reference.bound import Arithmetic, step_bound
from adamspec.reference.fast import fast_step

T_VALUES = [1, 2, 10, 1000, 10**6]
DTYPES = ["float64", "float32", "bfloat16", "float16"]
EXP = {"float64": (-30, 30), "float32": (-12, 12), "bfloat16": (-12, 12), "float16": (-3, 2)}


def draw(rng, dtype, n, t_prev, h):
    """θ, g, m, v in the storage dtype, from a mix of the regions DESIGN.md names."""
    lo, hi = EXP[dtype]
    dt = float_format(dtype).dtype

    def mag(a, b):
        return 10.0 ** rng.uniform(a, b, n)

    sign = rng.choice([-1.0, 1.0], n)
    theta = sign * np.where(rng.random(n) < 0.5, h.lr * mag(-1, 1), mag(lo, hi))
    g = rng.choice([-1.0, 1.0], n) * mag(lo, hi) * (rng.random(n) > 0.05)  # 5% rows with g = 0
    if t_prev == 0:
        m = v = np.zeros(n)
    else:
        m = rng.choice([-1.0, 1.0], n) * mag(lo, hi)
        bc2 = 1 - h.beta2 ** (t_prev + 1)
        near_eps = (h.eps * mag(-1, 1)) ** 2 * bc2  # √v̂ comparable to ε
        v = np.where(rng.random(n) < 0.3, near_eps, mag(2 * lo, 2 * hi))
    with np.errstate(over="ignore"):
        return [np.asarray(a).astype(dt) for a in (theta, g, m, v)]


def calibrate_paths(n, rng, out):
    worst = {}
    for family, modes in (("adam", ("adam", "adam_l2")), ("adamw", ("adamw",))):
        for path in ("forloop", "foreach", "fused"):
            adapter = TorchAdamAdapter(family, path)
            name = adapter.capabilities.name
            for mode in modes:
                h = Hyper(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                          weight_decay=0.0 if mode == "adam" else 0.1, mode=mode)
                for dtype in DTYPES:
                    for t in T_VALUES:
                        theta, g, m, v = draw(rng, dtype, n, t - 1, h)
                        before = ParamState(theta, m, v, None, t - 1) if t > 1 else ParamState(theta)
                        session = adapter.open([GroupSpec(h, (theta,))], [before])
                        session.step([g])
                        (after,) = session.read()
                        j = judge_step(before, g, h, after, adapter.capabilities)
                        fr = np.concatenate([np.where(mm.exempt, 0, mm.fraction).reshape(-1)
                                             for mm in j.outputs.values()])
                        fr = fr[np.isfinite(fr)]
                        exempt = sum(int(mm.exempt.sum()) for mm in j.outputs.values())
                        mx, p999 = float(fr.max()), float(np.quantile(fr, 0.999))
                        worst[name] = max(worst.get(name, 0.0), mx)
                        print(f"{name:<20} {mode:<8} {dtype:<9} t={t:<8} max {mx:6.3f}  p99.9 {p999:6.3f}"
                              f"  exempt {exempt:>6}  ok {j.ok}", file=out, flush=True)
    return worst


def separation(n, rng, out):
    """Wrong variants, computed exactly, against the canonical bound in their regions."""
    rows = {}
    for dtype in ("float64", "float32", "bfloat16"):
        dt = float_format(dtype).dtype
        for kind, prof in (("eps-hat", Variant(eps_placement="hat")),
                           ("decay-after", Variant(decay_order="after")),
                           ("eps-inside", Variant(eps_placement="inside"))):
            if kind == "eps-hat":  # small t, √v̂ ≈ ε
                h, t_prev = Hyper(lr=1e-3, eps=1e-3, weight_decay=0.01), 1
                v_scale = (1e-3 * 10 ** rng.uniform(-1, 1, n)) ** 2 * (1 - 0.999**2)
            elif kind == "decay-after":  # large lr·λ
                h, t_prev = Hyper(lr=0.1, weight_decay=4.0), 10
                v_scale = 10 ** rng.uniform(-6, 0, n)
            else:  # v̂ ≈ ε
                h, t_prev = Hyper(lr=1e-3, eps=1e-8, weight_decay=0.01), 100
                v_scale = 1e-8 * 10 ** rng.uniform(-1, 1, n) * (1 - 0.999**101)
            sign = rng.choice([-1.0, 1.0], n)
            theta = (sign * h.lr * 10 ** rng.uniform(-1, 1, n)).astype(dt).astype(np.float64)
            g = (sign * 10 ** rng.uniform(-4, -2, n)).astype(dt).astype(np.float64)
            m = (-sign * 10 ** rng.uniform(-4, -2, n)).astype(dt).astype(np.float64)
            v = v_scale.astype(dt).astype(np.float64)
            can = fast_step(theta, g, m, v, t_prev, h)
            var = fast_step(theta, g, m, v, t_prev, h, prof)
            ex64 = {k: getattr(can, k).to_float64() for k in ("theta", "m", "v")}
            b = step_bound(theta, g, m, v, t_prev, h, Arithmetic(compute=dtype), dtype, ex64)
            ratio = np.abs(var.theta.to_float64() - ex64["theta"]) / b.theta
            share = float((ratio > 1).mean())
            rows[f"{kind}/{dtype}"] = share
            print(f"variant {kind:<12} {dtype:<9} outside the bound: {100 * share:5.1f}%   "
                  f"median |variant − canonical|/B {float(np.median(ratio)):10.3g}", file=out, flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--elements", type=int, default=2**18)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    worst = calibrate_paths(args.elements, rng, sys.stdout)
    sep = separation(args.elements, rng, sys.stdout)
    print(json.dumps({"elements": args.elements, "max_fraction": max(worst.values()),
                      "max_fraction_by_path": worst, "variants_outside_bound": sep,
                      "seconds": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
