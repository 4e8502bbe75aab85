"""Judging an implementation against the exact reference (SPEC NUM-2, NUM-5).

``judge_step`` judges one step of one parameter; ``judge_trace`` every step of a run, filing
each failure under the clause it refutes. The inputs of a step are whatever the
implementation held before it (its own rounded state, re-based every step), so a trajectory
is judged one attributable step at a time. Judging returns judgements and ``Evidence``;
``conformance/elements.py`` turns evidence into report rows. The exact (bitwise) comparisons
some clauses make are here too (``same_bits``, ``same_up_to_zero_sign``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import partial

import mpmath
import numpy as np

from adamspec.adapters.base import Capabilities, ParamState
from adamspec.conformance.execute import execute
from adamspec.conformance.registry import Violation
from adamspec.reference.bound import Arithmetic, C, Measurement, measure, step_bound
from adamspec.reference.fast import DD, FastState, error_vs, fast_step
from adamspec.reference.floats import float_format
from adamspec.reference.hyper import Hyper


@dataclass(frozen=True)
class StepJudgement:
    """Per-output measurements of one parameter's step (θ, m, v and vmax when kept)."""

    outputs: dict[str, Measurement]
    exact: dict[str, np.ndarray]  # exact values rounded to binary64, for reports
    bounds: dict[str, np.ndarray]  # B per element (before the constant C)
    got: dict[str, np.ndarray]  # the implementation's stored values, binary64
    exact_dd: dict[str, DD]  # the exact values as double-double pairs (≈ 2⁻¹⁰⁴ relative)

    def digits(self, name: str, flat_index: int, n: int = 30) -> str:
        """The exact value of one element to ``n`` significant digits (hi + lo, summed exactly)."""
        dd = self.exact_dd[name]
        hi, lo = float(dd.hi.reshape(-1)[flat_index]), float(dd.lo.reshape(-1)[flat_index])
        if not np.isfinite(hi):
            return repr(hi)
        with mpmath.workprec(200):
            return mpmath.nstr(mpmath.mpf(hi) + mpmath.mpf(lo), n)

    @property
    def ok(self) -> bool:
        return all(bool(m.ok.all()) for m in self.outputs.values())

    @property
    def worst_fraction(self) -> float:
        return _worst(np.where(m.exempt, 0.0, m.fraction) for m in self.outputs.values())

    @property
    def worst_ulps(self) -> float:
        return _worst(np.where(m.exempt, 0.0, m.ulps) for m in self.outputs.values())


def _worst(arrays) -> float:
    """Largest finite value over arrays (NaN/inf entries are class verdicts, not headroom)."""
    best = 0.0
    for a in arrays:
        a = np.asarray(a, dtype=np.float64)
        finite = a[np.isfinite(a)]
        if finite.size:
            best = max(best, float(finite.max()))
    return best


def arithmetic_for(caps: Capabilities, storage: str) -> Arithmetic:
    """The arithmetic an adapter declares for a storage dtype (SPEC DT-2, DT-4)."""
    weight = storage if caps.moment_weight == "storage" else None
    return Arithmetic(compute=caps.compute[storage], scalars=caps.scalars_for(storage), powers=caps.powers,
                      weight=weight)


# A step this large is computed by the torch oracle on a GPU where one is at hand (the same
# hi/lo bits, tests/test_torch_oracle.py); on a CPU numpy's is the faster (bench/oracle.py).
LARGE_STEP = 1 << 22
ORACLE_DEVICE: str | None = None  # None: "cuda" when torch is already imported and sees a GPU


def _oracle_device(n: int) -> str | None:
    if n < LARGE_STEP:
        return None
    if ORACLE_DEVICE is not None:
        return ORACLE_DEVICE
    torch = sys.modules.get("torch")  # never imported for this: the core stays torch-free
    return "cuda" if torch is not None and torch.cuda.is_available() else None


def oracle_step(th, g, m, v, t_prev, hyper: Hyper, variant, vmax=None):
    """``fast_step``, or for a large step on a GPU its torch twin, with the pairs back in numpy."""
    device = _oracle_device(int(np.size(th)))
    if device is None:
        return fast_step(th, g, m, v, t_prev, hyper, variant, vmax=vmax)
    from adamspec.reference.fast_torch import fast_step_torch

    ex = fast_step_torch(th, g, m, v, t_prev, hyper, variant, vmax=vmax, device=device)

    def host(dd):
        return None if dd is None else DD(dd.hi.cpu().numpy(), dd.lo.cpu().numpy())

    return FastState(host(ex.theta), host(ex.m), host(ex.v), host(ex.vmax), ex.t, ex.fallback)


def judge_step(before: ParamState, grad: np.ndarray, hyper: Hyper, after: ParamState,
               caps: Capabilities) -> StepJudgement:
    """Compare ``after`` with the exact step from ``before`` within the declared bound."""
    storage = float_format(np.asarray(before.theta).dtype).name
    th = np.asarray(before.theta, dtype=np.float64)
    fresh = before.step is None or before.step == 0
    zeros = np.zeros_like(th)
    m = zeros if fresh else np.asarray(before.m, dtype=np.float64)
    v = zeros if fresh else np.asarray(before.v, dtype=np.float64)
    vmax = None
    if hyper.amsgrad:
        vmax = zeros if fresh or before.vmax is None else np.asarray(before.vmax, dtype=np.float64)
    t_prev = 0 if fresh else int(before.step)
    g = np.asarray(grad, dtype=np.float64)
    # The fast oracle: double-double, validated against the mpmath reference in the test
    # suite, with mpmath itself for the elements double-double cannot carry.
    ex = oracle_step(th, g, m, v, t_prev, hyper, caps.variant, vmax=vmax)
    ex64 = {name: getattr(ex, name).to_float64() for name in ("theta", "m", "v")}
    if hyper.amsgrad:
        ex64["vmax"] = ex.vmax.to_float64()
    state_storage = caps.state_dtype_for(storage)
    bound = step_bound(th, g, m, v, t_prev, hyper, arithmetic_for(caps, storage), storage, ex64,
                       caps.variant, vmax=vmax, state_storage=state_storage)
    outputs, bounds, gots, dds = {}, {}, {}, {}
    for name in ex64:
        got = getattr(after, name)
        if got is None:
            got = np.full(th.shape, np.nan)  # state the implementation did not keep
        got64 = np.asarray(got, dtype=np.float64)
        if got64.shape != th.shape:
            got64 = np.full(th.shape, np.nan)  # shape violations are reported by the property
        with np.errstate(invalid="ignore", over="ignore"):
            err = error_vs(got64, getattr(ex, name))
        outputs[name] = measure(got64, ex64[name], err, getattr(bound, name),
                                storage if name == "theta" else state_storage, bound.outside_model)
        bounds[name], gots[name], dds[name] = getattr(bound, name), got64, getattr(ex, name)
    return StepJudgement(outputs, ex64, bounds, gots, dds)


def fresh(state: ParamState) -> bool:
    """No state yet (SPEC STATE-1): the step starts from m = v = 0."""
    return state.step is None or state.step == 0


# --- a run, step by step -----------------------------------------------------------------------

# The order in which a step produces its stored outputs. An element that fails in several is
# filed under the earliest: a wrong m makes θ wrong too, and the clause refuted is m's.
_DATAFLOW = ("m", "v", "vmax", "theta")
_OUTPUT_CLAUSE = {"m": "AD-2", "v": "AD-3", "vmax": "AMS-1"}


@dataclass(frozen=True)
class Evidence:
    """The failing elements of one judged step that refute one clause: the judgement, the step's
    inputs, and the (output name, flat indices) picked. Reports turn it into rows."""

    judgement: StepJudgement
    before: ParamState
    grad: np.ndarray
    param: int
    picks: tuple[tuple[str, np.ndarray], ...]


def _refuted(judgement: StepJudgement, clause_of) -> dict[str, list[tuple[str, np.ndarray]]]:
    """The failing elements of one judgement grouped by the clause each refutes."""
    taken = None
    by_clause: dict[str, list[tuple[str, np.ndarray]]] = {}
    for name in _DATAFLOW:
        meas = judgement.outputs.get(name)
        if meas is None:
            continue
        bad = ~meas.ok.reshape(-1)
        if taken is not None:
            bad &= ~taken
        taken = bad if taken is None else taken | bad
        flats = np.flatnonzero(bad)
        if not flats.size:
            continue
        clauses = np.asarray(clause_of(name, flats))
        for clause in dict.fromkeys(clauses.tolist()):
            by_clause.setdefault(clause, []).append((name, flats[clauses == clause]))
    return by_clause


def judge_trace(adapter, case, trace, collector, what: str = "the exact step", *,
                theta_clause: str = "AD-1", clause_of=None, count_clause: str = "STATE-2") -> list[StepJudgement]:
    """Every step of every parameter with a gradient within C·B of the exact step (re-based).

    Each failure names the clause it refutes: m → AD-2, v → AD-3, vmax → AMS-1, θ →
    ``theta_clause``, or what ``clause_of(output, flat indices, before, grad)`` says; a wrong
    count → ``count_clause`` (STATE-2 unless the property's own clause covers it). Returns
    the judgements, so that a property's own checks need not judge the same step again.
    """
    caps = adapter.capabilities
    judgements = []
    for k, grads in enumerate(case.grads):
        hypers = case.hypers_at(k)  # each step at the hyperparameters in force at it (GRP-4)
        before_all, after_all = trace.snapshots[k], trace.snapshots[k + 1]
        for i, g in enumerate(grads):
            if g is None:
                continue
            before, after = before_all[i], after_all[i]
            _check_shapes(case, after, before, i, k, collector)
            t = (0 if fresh(before) else before.step) + 1
            if after.step != t:  # STATE-2: exactly one per step with a gradient
                collector.fail(Violation(f"after step {k + 1} parameter {i} holds step = {after.step!r}, "
                                         f"expected {t}", case, i, t, clause=count_clause, index=k))
            j = judge_step(before, g, hypers[i], after, caps)
            judgements.append(j)
            if j.ok:  # headroom is measured on steps within the bound: an excused one (a known
                collector.observe(j)  # deviation, off by 1e39 bounds) would only hide the rest
                continue

            for clause, picks in _refuted(j, partial(_clause_for, theta_clause, clause_of, before, g)).items():
                names = ", ".join(name for name, _ in picks)
                verb = "differs" if len(picks) == 1 else "differ"
                collector.fail(Violation(
                    f"step {k + 1} (t = {t}) of parameter {i}: {names} {verb} from {what} by more than C·B",
                    case, i, t, clause=clause, evidence=Evidence(j, before, g, i, tuple(picks)), index=k))
    return judgements


def _clause_for(theta_clause: str, clause_of, before: ParamState, grad, name: str, flats: np.ndarray):
    """The clause each failing element of output ``name`` refutes (judge_trace's docstring)."""
    if clause_of is not None:
        return clause_of(name, flats, before, grad)
    return [_OUTPUT_CLAUSE.get(name, theta_clause)] * len(flats)


def _check_shapes(case, after: ParamState, before: ParamState, i: int, k: int, collector) -> None:
    for name in ("theta", "m", "v"):
        a = getattr(after, name)
        if a is None:  # a step with a gradient and no state after it: none was created (STATE-1)
            collector.fail(Violation(f"after step {k + 1}, parameter {i} has no {name}: a step with a gradient "
                                     "created no state", case, i, None, clause="STATE-1"))
        elif np.shape(a) != np.shape(before.theta):
            collector.fail(Violation(f"after step {k + 1}, parameter {i}'s {name} has shape "
                                     f"{np.shape(a)}, expected {np.shape(before.theta)}", case, i, None,
                                     clause="STATE-4"))


def both_within(adapter, case_a, case_b, collector, relation: str, same, clause: str) -> None:
    """Run both cases, judge each, and check ``same(θa, θb)`` within the two bounds."""
    ta, tb = execute(adapter, case_a), execute(adapter, case_b)
    (ja,) = judge_trace(adapter, case_a, ta, collector)
    (jb,) = judge_trace(adapter, case_b, tb, collector)
    a, b = np.asarray(ta.snapshots[1][0].theta, np.float64), np.asarray(tb.snapshots[1][0].theta, np.float64)
    with np.errstate(invalid="ignore"):  # inf − inf where both runs overflowed alike
        gap = np.abs(same(a) - b)
    slack = C * (ja.bounds["theta"] + jb.bounds["theta"])  # each run may sit at its own bound
    bad = np.isfinite(gap) & (gap > slack) & ~ja.outputs["theta"].exempt & ~jb.outputs["theta"].exempt
    if np.any(bad):
        collector.fail(Violation(f"{relation} fails by {float(np.max(gap[bad]))!r} "
                                 f"(the two bounds allow {float(slack[bad].max())!r})", case_a, 0, None,
                                 clause=clause))


# --- exact claims ---------------------------------------------------------------------------------


def same_bits(a, b) -> bool:
    """Bitwise equality with NaN payloads ignored and +0/−0 kept distinct."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    fa, fb = a.astype(np.float64), b.astype(np.float64)
    both_nan = np.isnan(fa) & np.isnan(fb)
    return bool(np.all(both_nan | ((fa == fb) & (np.signbit(fa) == np.signbit(fb)))))


def same_up_to_zero_sign(a, b) -> bool:
    """Equality of values, +0 = −0 and NaN = NaN."""
    fa, fb = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return fa.shape == fb.shape and bool(np.all((fa == fb) | (np.isnan(fa) & np.isnan(fb))))
