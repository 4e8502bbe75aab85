"""Golden outputs of every variant knob value, to keep a refactor of the knob code bit-exact.

For a fixed list of one-step inputs (variant, hyperparameters, state, gradient), drawn with a
fixed numpy seed from the knob table (``reference.hyper.KNOBS``) so that every value of every
knob appears, this computes

- the exact reference step (``exact.step``, 256 bits), each mpf written exactly (sign, mantissa
  in hex, exponent: its ``_mpf_`` tuple);
- the double-double oracle (``fast.fast_step``): both halves of each pair as binary64 hex, and
  its fallback count;
- the error bound (``bound.step_bound``) for a drawn arithmetic, as binary64 hex, and its
  outside-the-model mask;
- the numpy implementation (``adapters.numpy_impl.numpy_step``, textbook order) in the storage
  dtype, as binary64 hex.

``python bench/knob_golden.py`` writes tests/fixtures/knob_golden.json; tests/test_knob_golden.py
recomputes every case and compares bitwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mpmath
import numpy as np

from adamspec.adapters.numpy_impl import numpy_step
from adamspec.reference import Hyper, State, Variant, exact
from adamspec.reference.bound import Arithmetic, step_bound
from adamspec.reference.fast import fast_step
from adamspec.reference.hyper import KNOB_PARAMETERS, KNOBS

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "knob_golden.json"
SEED = 20261204
DRAWS_PER_VALUE = 8  # cases in which the value is set; the other knobs are drawn at random
N = 8  # elements per case

PARAMETER_VALUES = {
    "schedule_multiplier": [1.0, 0.5, 3.0, 0.0],
    "max_lr": [1.0, 0.1, 1e-3],
    "eps_root": [0.0, 1e-16, 1e-8, 1e-3],
}
STORAGE = ["float64", "float32", "bfloat16"]


def _draw_array(rng, n, storage, nonneg=False, specials=True):
    mag = 10.0 ** rng.uniform(-12, 3, n)
    sign = np.ones(n) if nonneg else rng.choice([-1.0, 1.0], n)
    a = sign * mag
    a[rng.random(n) < 0.1] = 0.0
    if specials:
        pick = rng.random(n)
        a[pick < 0.04] = np.nan
        a[(pick >= 0.04) & (pick < 0.07)] = np.inf if nonneg else -np.inf
        a[(pick >= 0.07) & (pick < 0.1)] = 1e300 if storage == "float64" else 1e30
    from adamspec.reference.floats import float_format

    return a.astype(float_format(storage).dtype).astype(np.float64)


def cases() -> list[dict]:
    """The inputs, deterministic: for each knob and each of its values, DRAWS_PER_VALUE cases."""
    rng = np.random.default_rng(SEED)
    out = []
    for knob_name, knob in KNOBS.items():
        for value in knob.values:
            for draw in range(DRAWS_PER_VALUE):
                variant = {k: kn.values[rng.integers(len(kn.values))] for k, kn in KNOBS.items()}
                variant[knob_name] = value
                for p in KNOB_PARAMETERS:
                    variant[p] = PARAMETER_VALUES[p][rng.integers(len(PARAMETER_VALUES[p]))]
                variant = {k: (bool(v) if isinstance(v, np.bool_) else (str(v) if isinstance(v, np.str_) else v))
                           for k, v in variant.items()}
                mode = ["adam", "adam_l2", "adamw"][rng.integers(3)]
                if knob_name in ("decay_order", "decay_scale"):
                    mode = "adamw"
                wd = 0.0 if mode == "adam" else float([0.0, 1e-2, 0.1, 0.5][rng.integers(4)])
                if knob_name in ("decay_order", "decay_scale") and draw < 6:
                    wd = max(wd, 0.1)
                hyper = {
                    "lr": float([1e-3, 0.1, 1.0, 1e-6, 0.0][rng.integers(5)]),
                    "beta1": float([0.9, 0.0, 0.5, 0.999][rng.integers(4)]),
                    "beta2": float([0.999, 0.0, 0.9, 0.9999999][rng.integers(4)]),
                    "eps": float([1e-8, 0.0, 1e-30, 1.0][rng.integers(4)]),
                    "weight_decay": wd,
                    "mode": mode,
                    "amsgrad": bool(knob_name == "amsgrad_over" or rng.random() < 0.4),
                    "maximize": bool(rng.random() < 0.25),
                }
                storage = STORAGE[rng.integers(len(STORAGE))]
                specials = draw >= DRAWS_PER_VALUE - 3  # the last draws carry NaN, inf, huge values
                t_prev = int([0, 1, 9, 1000][rng.integers(4)])
                state = {
                    "theta": _draw_array(rng, N, storage, specials=specials),
                    "grad": _draw_array(rng, N, storage, specials=specials),
                    "m": _draw_array(rng, N, storage, specials=specials) if t_prev else np.zeros(N),
                    "v": _draw_array(rng, N, storage, nonneg=True, specials=specials) if t_prev else np.zeros(N),
                }
                state["vmax"] = (np.maximum(state["v"], _draw_array(rng, N, storage, nonneg=True, specials=False))
                                 if hyper["amsgrad"] else None)
                compute = {"float64": "float64", "float32": ["float32", "float64"][rng.integers(2)],
                           "bfloat16": ["bfloat16", "float32"][rng.integers(2)]}[storage]
                arith = {"compute": compute, "scalars": ["float64", "float32"][rng.integers(2)],
                         "powers": ["pow", "product"][rng.integers(2)],
                         "weight": [None, storage][rng.integers(2)]}
                out.append({"knob": knob_name, "value": value, "variant": variant, "hyper": hyper,
                            "storage": storage, "t_prev": t_prev, "arith": arith,
                            **{k: (None if a is None else [float(x).hex() for x in a]) for k, a in state.items()}})
    return out


def _arr(hexes):
    return None if hexes is None else np.array([float.fromhex(x) for x in hexes])


def _mpf_exact(x) -> str:
    """An mpf exactly: its (sign, mantissa, exponent, bitcount) tuple, the mantissa in hex."""
    sign, man, exp, bc = x._mpf_
    return f"{sign}:{int(man):x}:{exp}:{bc}"


def _hex(a):
    return None if a is None else [float(x).hex() for x in np.asarray(a, dtype=np.float64).reshape(-1)]


def compute(case: dict) -> dict:
    """Every output of one case, as exact strings."""
    from adamspec.reference.floats import float_format

    variant = Variant(**case["variant"])
    h = Hyper(**case["hyper"])
    theta, g, m, v, vmax = (_arr(case[k]) for k in ("theta", "grad", "m", "v", "vmax"))
    t_prev, storage = case["t_prev"], case["storage"]
    res = exact.step(State.from_floats(theta, m, v, t_prev, vmax=vmax), g, h, variant)
    out = {"exact": {name: [_mpf_exact(x) for x in getattr(res, name).reshape(-1)]
                     for name in ("theta", "m", "v", "vmax") if getattr(res, name) is not None}}
    fs = fast_step(theta, g, m, v, t_prev, h, variant, vmax=vmax)
    out["fast"] = {name: {"hi": _hex(getattr(fs, name).hi), "lo": _hex(getattr(fs, name).lo)}
                   for name in ("theta", "m", "v", "vmax") if getattr(fs, name) is not None}
    out["fast"]["fallback"] = fs.fallback
    a = case["arith"]
    arith = Arithmetic(compute=a["compute"], scalars=a["scalars"], powers=a["powers"], weight=a["weight"])
    with mpmath.workprec(256):
        ex64 = res.as_float64()
    b = step_bound(theta, g, m, v, t_prev, h, arith, storage, ex64, variant, vmax=vmax)
    out["bound"] = {name: _hex(getattr(b, name)) for name in ("theta", "m", "v", "vmax")
                    if getattr(b, name) is not None}
    out["bound"]["outside_model"] = [bool(x) for x in np.asarray(b.outside_model).reshape(-1)]
    dt = float_format(storage).dtype
    cast = lambda x: None if x is None else x.astype(dt)  # noqa: E731
    ns = numpy_step(cast(theta), cast(g), cast(m), cast(v), cast(vmax), t_prev, h, "textbook", variant)
    out["numpy"] = {name: _hex(x) for name, x in zip(("theta", "m", "v", "vmax"), ns[:4]) if x is not None}
    return out


def main(argv=None) -> int:
    rows = [{"input": c, "output": compute(c)} for c in cases()]
    FIXTURE.write_text(json.dumps({"seed": SEED, "cases": rows}, indent=1) + "\n")
    print(f"wrote {len(rows)} cases to {FIXTURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
