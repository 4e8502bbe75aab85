"""Which Adam is this? Each variant knob (SPEC VAR-2 … VAR-6) identified from one step on a case
the exact reference designs to tell the knob's values apart (``adamspec identify``).

For every knob, the candidate inputs of a small grid are stepped by the fast oracle under each of
the knob's values (the other knobs canonical); the element whose predictions lie furthest apart —
the least, over ordered pairs of values, of the share of the bound by which one value's result
misses the other's — becomes that knob's case. The implementation steps it once, and each value
is judged against what it stored: it fits when the stored step is within C·B of that value's
exact step. The identified variant is then checked on every knob's case together; if it does
not fit all of them, no variant fits, and the closest candidate and what is off are reported.

A knob value that carries its own parameter (``KNOB_PARAMETERS``) is not among the candidates:
``decay_scale = "scheduled"`` (VAR-3) has a multiplier η that one step cannot tell from α,
``"corrected"`` an α_max that is the constructor's α, where it equals canonical, and
``eps_placement = "root"`` (VAR-4) an ε_root that the implementation must state.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from adamspec.adapters.base import Capabilities, GroupSpec, ParamState, UnsupportedCase
from adamspec.conformance.judge import judge_step
from adamspec.reference.fast import fast_step
from adamspec.reference.floats import float_format
from adamspec.reference.hyper import CANONICAL, KNOB_PARAMETERS, KNOBS, Hyper, Mode, Variant

# The mode is judged like a knob (L2-1 against AW-1): coupled L2 sold as decoupled decay, or the
# reverse, is the commonest "which Adam" confusion. Only with λ > 0 do the two differ.
MODE = "mode"
MODES = ("adam_l2", "adamw")
MIN_SEPARATION = 8.0  # a case tells values apart when each misses the others by ≥ 8 bounds
_NOT_IDENTIFIED: dict[str, tuple] = {}  # knob -> values with a parameter (module docstring)
for _knob, _value in KNOB_PARAMETERS.values():
    _NOT_IDENTIFIED[_knob] = (*_NOT_IDENTIFIED.get(_knob, ()), _value)


@dataclass(frozen=True)
class Probe:
    """One knob's designed case: a single-element step, and each value's exact prediction."""

    knob: str
    hyper: Hyper
    before: ParamState
    grad: np.ndarray
    predicted: dict  # value -> {"theta": float, "m": ..., "v": ..., "vmax": ...}
    separation: float  # shares of the bound between the closest two values' results


@dataclass(frozen=True)
class KnobFit:
    knob: str
    clause: str
    fits: tuple  # the values within C·B of what the implementation stored
    distance: dict  # value -> worst share of the bound (≤ 1 fits)
    probe: Probe | None
    got: dict  # what the implementation stored after the step
    reason: str = ""  # why the knob could not be probed


@dataclass(frozen=True)
class Identification:
    adapter: str
    mode: str
    storage: str
    knobs: tuple[KnobFit, ...]
    variant: Variant | None  # the identified variant, None when no variant fits every probe
    closest: Variant  # the best single candidate (the identified one when it fits)
    off: tuple[str, ...]  # knobs whose probe the closest candidate still misses, with distances
    computes: str | None = None  # the mode the results fit (L2-1 or AW-1), None when not probed

    def as_dict(self) -> dict:
        """The JSON form: ``variant`` maps each knob to the value found (the closest candidate's
        when nothing fits; null for a knob not decided), ``fits`` says whether it fits every case."""
        decided = {k.knob for k in self.knobs if k.distance}
        return {
            "adapter": self.adapter, "mode": self.mode, "storage": self.storage,
            "variant": {k: (_plain(getattr(self.closest, k)) if k in decided else None) for k in KNOBS},

            "computes": self.computes, "fits": self.variant is not None, "off": list(self.off),
            "evidence": [_evidence(k) for k in self.knobs],
        }


def _evidence(k: KnobFit) -> dict:
    out = {"knob": k.knob, "clause": k.clause, "decided": bool(k.distance), "reason": k.reason,
           "fits": [_plain(x) for x in k.fits],
           "distance": [{"value": _plain(v), "bounds": d} for v, d in k.distance.items()], "got": k.got}
    p = k.probe
    if p is not None:
        one = (lambda a: None if a is None else float(np.asarray(a, np.float64)[0]))  # noqa: E731
        out["case"] = {
            "hyper": {f: _plain(getattr(p.hyper, f)) for f in p.hyper.__dataclass_fields__},
            "theta": one(p.before.theta), "grad": one(p.grad), "m": one(p.before.m), "v": one(p.before.v),
            "vmax": one(p.before.vmax), "step": p.before.step or 0,
            "predicted": [{"value": _plain(v), **pred} for v, pred in p.predicted.items()],
            "separation_bounds": p.separation}
    return out


def _plain(x):
    return x.value if isinstance(x, Mode) else x


def candidates(knob: str) -> tuple:
    if knob == MODE:
        return MODES
    return tuple(x for x in KNOBS[knob].values if x not in _NOT_IDENTIFIED.get(knob, ()))


def _alternative(knob: str, value, base: Variant = CANONICAL, mode: str | None = None) -> tuple[Variant, str | None]:
    """(variant, mode) of one value: a knob's value on ``base``, or a mode."""
    return (base, value) if knob == MODE else (replace(base, **{knob: value}), mode)


def _in_mode(h: Hyper, mode: str | None) -> Hyper:
    return h if mode is None else replace(h, mode=mode)


def _grid(caps: Capabilities, mode: str, knob: str):
    """(hyper, before-state arrays, grad) candidates, each a vector of elements."""
    theta = np.array([1.0, -0.5, 1.0, -0.5, 1.0, -0.5])
    g = np.array([1e-4, 1e-4, 1e-2, 1e-2, 1.0, 1.0])
    injected = caps.state_injection
    amsgrad = knob == "amsgrad_over"
    if amsgrad and not (caps.amsgrad and injected):
        return
    for lr, b2, eps, wd, t_prev, vscale in itertools.product(
            (1e-3, 0.1), (0.999, 0.9), (1e-8, 1e-3, 0.1), (0.0, 0.1, 0.5) if mode != "adam" else (0.0,),
            (0, 1, 10) if injected else (0,), (0.25, 4.0)):
        if (knob == MODE or (mode == "adamw" and knob in ("decay_order", "decay_scale"))) and wd == 0.0:
            continue
        if t_prev == 0 and (amsgrad or vscale != 0.25):
            continue
        # β₁ = 0.8 differs from every β₂ of the grid, so no designed case hides β₁ and β₂ swapped
        h = Hyper(lr=lr, beta1=0.8, beta2=b2, eps=eps, weight_decay=wd, mode=mode, amsgrad=amsgrad)
        if t_prev == 0:
            yield h, theta, None, None, None, 0, g
        else:
            m, v = 0.5 * g, vscale * g * g
            yield h, theta, m, v, (2.0 * v if amsgrad else None), t_prev, g


def _predict(theta, g, m, v, vmax, t_prev, h, variant, dt) -> dict:
    """A value's exact step, stored in the storage dtype (binary64 arrays)."""
    ex = fast_step(theta, g, m, v, t_prev, h, variant, vmax=vmax)
    names = ("theta", "m", "v") + (("vmax",) if h.amsgrad else ())
    return {n: getattr(ex, n).to_float64().astype(dt).astype(np.float64) for n in names}


def _as_state(arrays: dict, t: int, dt) -> ParamState:
    a = {n: None if x is None else np.asarray(x, np.float64).astype(dt) for n, x in arrays.items()}
    return ParamState(a["theta"], a.get("m"), a.get("v"), a.get("vmax"), t if t else None)


def _fractions(caps, variant, h, before, grad, after) -> np.ndarray:
    """Per element: the worst share of ``variant``'s bound by which ``after`` misses its step."""
    j = judge_step(before, grad, h, after, replace(caps, variant=variant))
    worst = np.zeros(np.shape(before.theta))
    for m in j.outputs.values():
        f = np.where(m.exempt, 0.0, np.where(np.isfinite(m.fraction), m.fraction, np.inf))
        worst = np.maximum(worst, f)
    return worst


def design(caps: Capabilities, knob: str, storage: str, mode: str) -> Probe | None:
    """The single-element case on which the knob's values lie furthest apart, or None."""
    values = candidates(knob)
    dt = float_format(storage).dtype
    best = None
    for h, theta, m, v, vmax, t_prev, g in _grid(caps, mode, knob):
        ins = {"theta": theta, "m": m, "v": v, "vmax": vmax}
        before = _as_state(ins, t_prev, dt)
        grad = np.asarray(g, np.float64).astype(dt)
        f64 = {n: None if x is None else np.asarray(x, np.float64) for n, x in
               {"theta": before.theta, "m": before.m, "v": before.v, "vmax": before.vmax}.items()}
        alt = {x: _alternative(knob, x) for x in values}
        preds = {x: _predict(f64["theta"], grad.astype(np.float64), f64["m"], f64["v"], f64["vmax"], t_prev,
                             _in_mode(h, alt[x][1]), alt[x][0], dt) for x in values}
        sep = np.full(np.shape(theta), np.inf)
        for x in values:  # every other value's prediction judged against x's step, in one call
            others = [y for y in values if y != x]
            k = len(others)
            tile = (lambda a, k=k: None if a is None else np.tile(np.asarray(a), k))  # noqa: E731
            before_k = ParamState(tile(before.theta), tile(before.m), tile(before.v), tile(before.vmax), before.step)
            after_k = _as_state({n: np.concatenate([preds[y][n] for y in others]) for n in preds[x]}, t_prev + 1, dt)
            f = _fractions(caps, alt[x][0], _in_mode(h, alt[x][1]), before_k, tile(grad), after_k)
            sep = np.minimum(sep, f.reshape(k, -1).min(axis=0))
        i = int(np.argmax(np.where(np.isfinite(sep), sep, -1.0)))
        if np.isfinite(sep[i]) and (best is None or sep[i] > best.separation):
            pick = (lambda a, i=i: None if a is None else np.asarray(a)[i:i + 1])  # noqa: E731
            one = ParamState(pick(before.theta), pick(before.m), pick(before.v), pick(before.vmax), before.step)
            best = Probe(knob, h, one, grad[i:i + 1],
                         {x: {n: float(p[n][i]) for n in p} for x, p in preds.items()}, float(sep[i]))
    return best


def _distance(caps, variant, h, before, grad, after) -> float:
    return float(np.max(_fractions(caps, variant, h, before, grad, after)))


def _storage(caps: Capabilities) -> str:
    for s in ("float64", "float32", "bfloat16", "float16"):
        if s in caps.dtypes:
            return s
    raise UnsupportedCase(f"{caps.name} supports none of float64, float32, bfloat16, float16")


def _run(adapter, probe: Probe) -> ParamState:
    state = probe.before if probe.before.step else None
    session = adapter.open([GroupSpec(probe.hyper, (probe.before.theta,))], [state])
    try:
        session.step([probe.grad])
        return session.read()[0]
    finally:
        session.close()


def identify(adapter, mode: str | None = None) -> Identification:
    """Probe every knob of ``adapter`` (in ``mode``, default its last) and name the variant.

    Each probe is judged under every combination of candidate values, because a departure in one
    knob moves every probe's result: the variant that fits all probes best is the answer, and a
    knob's evidence is its own probe judged under that variant with the knob set to each value.
    """
    caps = adapter.capabilities
    mode = mode or sorted(caps.modes)[-1]
    storage = _storage(caps)
    skipped, runs = {}, {}
    for knob in (*KNOBS, MODE):
        if knob in ("decay_order", "decay_scale") and mode != "adamw":
            skipped[knob] = (None, f"only decoupled decay (mode adamw) has a {knob}")
            continue
        if knob == MODE and mode not in MODES:
            skipped[knob] = (None, "mode adam has no weight decay, coupled or decoupled, to tell apart")
            continue
        probe = design(caps, knob, storage, mode)
        if probe is None or probe.separation < MIN_SEPARATION:
            why = ("the adapter declares no AMSGrad or no state injection" if probe is None else
                   f"no case of the grid separates the values by {MIN_SEPARATION:g} bounds at {storage} "
                   f"(best {probe.separation:.3g})")
            skipped[knob] = (probe, why)
            continue
        runs[knob] = (probe, _run(adapter, probe))

    def score(variant: Variant, as_mode: str | None, knob: str) -> float:
        probe, after = runs[knob]
        return _distance(caps, variant, _in_mode(probe.hyper, as_mode), probe.before, probe.grad, after)

    # Among the (variant, mode) pairs within the bound on every probe, the one with the fewest
    # departures (ε-hat and ε outside coincide without bias correction: that says "no bias
    # correction"; the claimed mode counts as no departure); when none is, the one that misses
    # by least.
    knobs = [k for k in runs if k != MODE]
    modes = MODES if MODE in runs else (None,)
    best, best_mode, best_key = CANONICAL, None, (True, float("inf"), 0)
    for combo in itertools.product(*(candidates(k) for k in knobs)):
        v = replace(CANONICAL, **dict(zip(knobs, combo, strict=True)))
        for as_mode in modes:
            worst = max((score(v, as_mode, k) for k in runs), default=0.0)
            n = len(v.departures()) + (as_mode not in (None, mode))
            key = (False, n, worst) if worst <= 1.0 else (True, worst, n)
            if key < best_key:
                best, best_mode, best_key = v, as_mode, key
    fits = []
    for knob in (*KNOBS, MODE):
        clause = "L2-1/AW-1" if knob == MODE else KNOBS[knob].clause
        if knob in skipped:
            probe, why = skipped[knob]
            fits.append(KnobFit(knob, clause, (), {}, probe, {}, why))
            continue
        probe, after = runs[knob]
        dist = {x: score(*_alternative(knob, x, best, best_mode), knob) for x in candidates(knob)}
        got = {n: None if getattr(after, n) is None else float(np.asarray(getattr(after, n), np.float64)[0])
               for n in ("theta", "m", "v", "vmax")}
        fits.append(KnobFit(knob, clause, tuple(x for x, d in dist.items() if d <= 1.0), dist, probe, got))
    misses = {k: score(best, best_mode, k) for k in runs}
    off = tuple(f"{k}: {d:.3g} bounds off on its case" for k, d in misses.items() if d > 1.0)
    found = best_mode or mode
    return Identification(caps.name, mode, storage, tuple(fits), None if off else best, best, off,
                          found if MODE in runs else None)
