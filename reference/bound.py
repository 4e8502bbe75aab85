"""The derived tolerance: a first-order forward error bound for one step (SPEC NUM-2, NUM-3).

For each element of θ, m, v and vmax the bound B limits |computed − exact| for *any*
reasonable evaluation order of the spec's formula in an implementation's compute
precision. It is built from term magnitudes: every intermediate carries an absolute
error bound, and each rounding contributes u times the sum of the absolute values of
the terms it combines (Higham's γ_k argument), so re-association, lerp for m, folding
the step size into the denominator, or addcdiv cannot escape it.

The bound is an error estimate, not a value: it is evaluated in binary64 from the
inputs and exact outputs rounded to binary64 (a few correct digits are all it needs).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from adamspec.reference import knobs
from adamspec.reference.floats import BINARY64, FloatFormat, float_format
from adamspec.reference.hyper import (
    CANONICAL,
    Hyper,
    Mode,
    Variant,
    check_handled,
    decay_scale_factor,
    require_handled,
    step_size,
)

# The knobs whose BOUND terms (reference/knobs/<knob>.py) ``step_bound`` adds, and where. The
# values it derives a bound for are those terms' (HANDLED), checked against reference.hyper.KNOBS
# at import and at every call: a value without its terms, or a knob module step_bound does not
# call, is an ImportError naming this module.
CALLS = {
    "decay_order": "the error of θ_t (AW-1 / VAR-2)",
    "decay_scale": "the error of the decay factor d (AW-4 / VAR-3); step_size and decay_scale_factor",
    "eps_placement": "the denominator and numerator of u (AD-5 / VAR-4)",
    "bias_correction": "the corrections and their relative errors (AD-4 / VAR-5)",
    "amsgrad_over": "the maximum's candidate (AMS-1 / VAR-6)",
}
HANDLED = {name: set(getattr(knobs.MODULES.get(name), "BOUND", {})) for name in CALLS}
check_handled(__name__, HANDLED)


def _terms(name: str, variant: Variant):
    """The BOUND terms of ``variant``'s value of knob ``name`` (reference/knobs/<name>.py)."""
    return knobs.piece("BOUND", name, getattr(variant, name), __name__)


# Conformance: |impl − exact| ≤ C·B elementwise (SPEC NUM-2). B already counts the
# roundings of every evaluation order we know of with margin; C = 1 keeps the
# criterion exactly the derived bound.
C = 1.0


@dataclass(frozen=True)
class Arithmetic:
    """How an implementation path evaluates the step (SPEC DT-2, DT-4).

    compute: the format each elementwise operation rounds to (torch CPU for-loop with
        bf16 parameters: bfloat16; torch fused: float32).
    scalars: the format hyperparameters and the scalars derived from them (1 − β,
        β^t, α/(1 − β1^t), …) are held in: binary64 for Python floats, float32 for
        paths that keep them in float32 tensors.
    powers: "pow" (β^t from one power function) or "product" (a running product of
        t factors, whose error grows with t).
    weight: the format the moments' weight 1 − β₁ is cast to before it multiplies g′ − m,
        where that is not the scalars format (torch's compiled foreach lerp: the moments'
        storage dtype); None when it is held like the other derived scalars.
    """

    compute: FloatFormat
    scalars: FloatFormat = BINARY64
    powers: str = "pow"
    weight: FloatFormat | None = None

    def __post_init__(self):
        object.__setattr__(self, "compute", float_format(self.compute))
        object.__setattr__(self, "scalars", float_format(self.scalars))
        if self.weight is not None:
            object.__setattr__(self, "weight", float_format(self.weight))
        if self.powers not in ("pow", "product"):
            raise ValueError(f"powers must be 'pow' or 'product', got {self.powers!r}")


@dataclass(frozen=True)
class StepBound:
    """Absolute error bounds per element (binary64 arrays); vmax is None without AMSGrad."""

    theta: np.ndarray
    m: np.ndarray
    v: np.ndarray
    vmax: np.ndarray | None
    # Elements whose intermediates leave the compute format's finite range (g'², v or u
    # overflows): the first-order model does not hold there and SPEC NUM-7 judges them
    # by NF alone. Reported, never silently dropped.
    outside_model: np.ndarray | None = None


def _half_ulp(x: np.ndarray, fmt: FloatFormat) -> np.ndarray:
    """Half the spacing of ``fmt`` at |x|: the error of the final rounding to storage."""
    ax = np.abs(x)
    with np.errstate(divide="ignore"):
        e = np.floor(np.log2(np.where(ax > 0, ax, 1.0)))
    e = np.maximum(np.where(ax > 0, e, fmt.emin), fmt.emin)
    return np.ldexp(0.5, (e - fmt.precision + 1).astype(np.int64))


def _quotient_error(x, ex, y, ey):
    """Error of x/y given |Δx| ≤ ex, |Δy| ≤ ey (rounding excluded), not first order:
    (ex + |x/y|·ey)/(|y| − ey). Unbounded when ey ≥ |y|: a denominator that may have
    cancelled to nothing constrains nothing."""
    ay = np.abs(y)
    slack = ay - ey
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(slack > 0, (ex + np.abs(x / y) * ey) / slack, np.inf)
    return np.where((ex == 0) & (ey == 0), 0.0, q)


def step_bound(
    theta, grad, m, v, t_prev: int, hyper: Hyper, arith: Arithmetic, storage,
    exact_out: dict, variant: Variant = CANONICAL, vmax=None, state_storage=None,
) -> StepBound:
    """B for one step from (θ, g, m, v, vmax, t_prev), given the exact outputs in binary64.

    ``exact_out`` holds the exact θ, m, v (and vmax) after the step rounded to binary64;
    only the final storage rounding uses them. ``state_storage``: the format m, v and vmax
    are stored in where it is not θ's (SPEC DT-1).
    """
    require_handled(__name__, HANDLED, variant)
    storage = float_format(storage)
    state_storage = storage if state_storage is None else float_format(state_storage)
    u = arith.compute.unit_roundoff
    us = arith.scalars.unit_roundoff
    # Relative perturbation of each hyperparameter as held: none when held in binary64,
    # where the Python float the user passed is held exactly.
    rho_hold = 0.0 if arith.scalars.precision >= 53 else us
    # Relative error of a derived scalar: up to 4 roundings in the scalars format
    # (e.g. power, subtraction, division, square root) and one cast to compute precision.
    rho_der = 4 * us + u
    # Absolute floor for gradual underflow: half the compute format's smallest subnormal
    # per rounding, counted generously (8 roundings per output). It applies only where
    # some term is nonzero: sums and products of exact zeros are exact.
    tiny_unit = 8 * np.ldexp(0.5, arith.compute.emin - arith.compute.precision + 1)

    def tiny(*terms):
        return np.where(sum(terms) > 0, tiny_unit, 0.0)

    f64 = np.float64
    th, g, m0, v0 = (np.asarray(a, dtype=f64) for a in (theta, grad, m, v))
    b1, b2 = hyper.beta1, hyper.beta2
    eps, lam = hyper.eps, hyper.weight_decay
    t = t_prev + 1
    with np.errstate(all="ignore"):
        # MAX-1, L2-1: g' = ±g (+ λθ). λθ: one product, λ held and cast, one addition.
        gp = -g if hyper.maximize else g.copy()
        e_gp = np.zeros_like(gp)
        if hyper.mode is Mode.ADAM_L2 and lam != 0.0:
            lt = lam * th
            e_gp = (2 * u + rho_hold) * np.abs(lt) + u * (np.abs(gp) + np.abs(lt))
            gp = gp + lt

        # Derived scalars and their absolute errors.
        c1, c2 = 1.0 - b1, 1.0 - b2
        d_c1 = rho_hold * b1 + rho_der * c1
        d_c2 = rho_hold * b2 + rho_der * c2
        # AD-4 / VAR-5: the corrections and their relative errors. β^t lives in the scalars
        # format: β held with relative error ρ makes it off by t·ρ relative, pow adds ~2
        # roundings, a running product one per factor.
        rho_pow = t * rho_hold + (t if arith.powers == "product" else 2) * us
        bc1, bc2, rel_bc1, rel_bc2 = _terms("bias_correction", variant)(b1, b2, t, rho_pow, rho_der)

        # AD-2: m = β1·m + (1−β1)·g'. Up to 3 roundings per term in any order; the lerp
        # form m + w·(g' − m) rounds g' − m, which the |m| (not β1|m|) magnitude covers.
        m1 = b1 * m0 + c1 * gp
        e_m = (3 * u * (np.abs(m0) + c1 * np.abs(gp)) + rho_hold * b1 * np.abs(m0)
               + d_c1 * np.abs(gp) + c1 * e_gp + tiny(np.abs(m0), np.abs(gp)))
        if arith.weight is not None:
            # DT-4: the weight w = 1 − β₁ (already off by d_c1) cast to the weight format,
            # relative u_w. Every lerp order forms m + w·(g′ − m) or g′ − (1 − w)·(g′ − m), whose
            # exact value is (1 − w)·m + w·g′, so w's whole error meets |m| as well as |g′|
            # (1 − w is exact in the weight format for w ≥ ½, so the second order adds nothing).
            e_w = d_c1 + arith.weight.unit_roundoff * (c1 + d_c1)
            e_m = e_m + (e_w - d_c1) * np.abs(gp) + e_w * np.abs(m0)
        # AD-3: v = β2·v + (1−β2)·g'². addcmul rounds value·g, ·g and the sum: 4 per term.
        g2 = gp * gp
        v1 = b2 * v0 + c2 * g2
        e_v = (4 * u * (np.abs(v0) + c2 * g2) + rho_hold * b2 * np.abs(v0) + d_c2 * g2
               + c2 * (2 * np.abs(gp) * e_gp + e_gp * e_gp) + tiny(np.abs(v0), g2))

        # AMS-1 / VAR-6: the maximum is exact; its error is that of the value it picks,
        # and a computed v can only win where v + e_v reaches vmax.
        vd, e_vd, vd_corrected = v1, e_v, False
        vmax1 = e_vmax = None
        if hyper.amsgrad:
            vm0 = np.asarray(vmax, dtype=f64)
            cand, e_cand, corrected = _terms("amsgrad_over", variant)(v1, e_v, bc2, rel_bc2, u)
            vmax1 = np.maximum(vm0, cand)
            e_vmax = np.where(cand + e_cand >= vm0, e_cand, 0.0)
            vd, e_vd, vd_corrected = vmax1, e_vmax, corrected

        # AD-5 / VAR-4: the normalised update u = m̂ / denominator.
        # ε as held and cast; below the normal range the cast error is absolute (binary16
        # turns ε = 1e-8 into 0).
        d_eps = (rho_hold + rho_der) * eps + (tiny_unit / 8 if eps > 0 else 0.0)
        if vd_corrected:
            vhat, e_vhat = vd, e_vd
        else:
            vhat = vd / bc2
            e_vhat = (e_vd + vd * rel_bc2) / bc2
        mhat = m1 / bc1
        e_mhat = (e_m + np.abs(m1) * rel_bc1) / bc1 + u * np.abs(mhat)
        den, e_den, num, e_num = _terms("eps_placement", variant)(SimpleNamespace(
            vhat=vhat, e_vhat=e_vhat, vd=vd, e_vd=e_vd, vd_corrected=vd_corrected, mhat=mhat, e_mhat=e_mhat,
            m1=m1, e_m=e_m, bc1=bc1, bc2=bc2, rel_bc1=rel_bc1, rel_bc2=rel_bc2, eps=eps, d_eps=d_eps, u=u,
            rho_hold=rho_hold, rho_der=rho_der, tiny_unit=tiny_unit, p=variant))
        upd = num / den
        e_upd = _quotient_error(num, e_num, den, e_den) + u * np.abs(upd)

        # AD-6: the step α·u. α (or α/bc1 folded into a step size, or its negation in
        # the capturable form) is a held, derived, cast scalar; 2 more roundings cover
        # the product and addcdiv's internal multiply.
        lr = step_size(hyper, variant)
        step_term = lr * upd
        e_step = lr * e_upd + np.abs(step_term) * (rho_hold + rho_der + 2 * u)
        # Gradual underflow along the step: a rounding whose result lies below the normal
        # range errs by up to h = half the smallest subnormal, absolutely, and that error is
        # then carried to α·u. Where each order can meet it (tested at twice the exact
        # magnitude, which covers the computed one): u = m̂/D, then ×α; α·u itself; the
        # step-size order s·m with s = α/bc1, whose h is then divided by D (torch's fused
        # CPU kernel: with D ~ 1e-8 that h becomes ~1e8·h); the capturable order m/(D/s),
        # where the relative error h·s/D of D/s carries to |α·u|.
        h = tiny_unit / 8
        low = 2 * np.ldexp(1.0, arith.compute.emin)
        d_low = den - e_den
        s = lr / bc1
        e_under = (h * lr * (np.abs(upd) < low) + h * (np.abs(step_term) < low)
                   + np.where(d_low > 0, h * ((lr * np.abs(num) < low) + np.abs(step_term) * s * (den / s < low))
                              / d_low, np.inf))
        e_step = e_step + np.where(np.abs(num) > 0, e_under, 0.0)  # 0/D and α·0 are exact
        e_step = np.where(np.isnan(e_step), np.inf, e_step)  # 0·∞: an unbounded u stays unbounded

        # AW-1 / VAR-2 / VAR-3: decay factor d = 1 − scale·λ.
        if hyper.mode is Mode.ADAMW and lam != 0.0:
            scale = decay_scale_factor(hyper, variant)
            d = 1.0 - scale * lam
            d_d = _terms("decay_scale", variant)(scale, lam, d, rho_hold, rho_der)  # the held factors of scale·λ
            n_round = 2  # θ·d then the subtraction (or θ − αλθ − step: 2 additions)
        else:
            d, d_d, n_round = 1.0, 0.0, 1
        ath, astep = np.abs(th), np.abs(step_term)
        e_th = _terms("decay_order", variant)(SimpleNamespace(
            th=th, ath=ath, step_term=step_term, astep=astep, e_step=e_step, d=d, d_d=d_d, n_round=n_round,
            u=u, tiny=tiny(ath, astep)))

        big = np.ldexp(1.0, arith.compute.emax)  # within a factor 2 of the format's max
        mags = [np.abs(gp), g2, np.abs(v1), np.abs(m1), np.abs(th), np.abs(mhat), np.abs(num), np.abs(upd)]
        outside = ~(np.maximum.reduce(mags) < big)
        outside &= np.isfinite(th) & np.isfinite(g) & np.isfinite(m0) & np.isfinite(v0)

        # DT-3: every stored output is finally rounded to the storage format. The
        # computed value may lie up to e beyond the exact one, in a binade with twice
        # the spacing, so the half-ulp is taken at |exact| + e.
        def stored(e, name):
            fmt = storage if name == "theta" else state_storage
            return e + _half_ulp(np.abs(exact_out[name]) + e, fmt)

        e_th, e_m, e_v = stored(e_th, "theta"), stored(e_m, "m"), stored(e_v, "v")
        if hyper.amsgrad:
            e_vmax = stored(e_vmax, "vmax")
    return StepBound(e_th, e_m, e_v, e_vmax, outside)


@dataclass(frozen=True)
class Measurement:
    """Observed error of one output against the exact value and its bound (SPEC NUM-4)."""

    abs_error: np.ndarray  # |impl − exact|, binary64
    ulps: np.ndarray  # in units of the storage format's spacing at the exact value
    fraction: np.ndarray  # abs_error / (C·B): ≤ 1 conforms
    ok: np.ndarray  # elementwise verdict, IEEE classes compared where exact is non-finite
    exempt: np.ndarray  # outside the first-order model (NUM-7): not judged by the bound

    @property
    def worst(self) -> int:
        """Flat index of the element with the largest bound fraction."""
        frac = np.where(np.isnan(self.fraction), np.inf, self.fraction)
        return int(np.argmax(frac)) if frac.size else -1


def measure(impl, exact_f64, error_f64, bound, storage, outside_model=None) -> Measurement:
    """Compare an implementation's stored values with the exact ones.

    ``exact_f64``: exact values rounded to binary64 (for classes and ulp scale);
    ``error_f64``: impl − exact computed accurately (e.g. (impl − hi) − lo from a
    double-double oracle). Where the exact value is non-finite the verdict is IEEE
    class agreement: NaN for NaN, the same infinity for an infinity (SPEC NF-1, NUM-7).
    """
    storage = float_format(storage)
    impl = np.asarray(impl, dtype=np.float64)
    exact = np.asarray(exact_f64, dtype=np.float64)
    err = np.abs(np.asarray(error_f64, dtype=np.float64))
    with np.errstate(all="ignore"):
        finite = np.isfinite(exact)
        spacing = 2 * _half_ulp(np.where(finite, exact, 0.0), storage)
        ulps = np.where(finite, err / spacing, np.where(_same_class(impl, exact), 0.0, np.inf))
        frac = np.where(finite, err / (C * bound), ulps)
        frac = np.where(finite & (err == 0), 0.0, frac)
        ok = np.where(finite, np.isfinite(impl) & (err <= C * bound), _same_class(impl, exact))
        # NUM-7: an exact value at or beyond the storage overflow threshold is stored as
        # ±inf (and may be, within the bound, when it lies just below it).
        threshold = np.ldexp(2.0 - 2.0 ** -storage.precision, storage.emax)
        overflowed = finite & (np.abs(exact) + C * bound >= threshold) & (impl == np.sign(exact) * np.inf)
        ok = ok | overflowed
        frac = np.where(overflowed, 0.0, frac)
        ulps = np.where(overflowed, 0.0, ulps)
    exempt = np.zeros(ok.shape, bool) if outside_model is None else np.asarray(outside_model, bool)
    # An unbounded B (a denominator that may have cancelled or underflowed to nothing)
    # puts the element outside the model too; a non-finite exact value is always judged
    # by class (NF-1).
    exempt = (exempt | ~(np.asarray(bound) < np.inf)) & finite
    return Measurement(err, ulps, frac, ok | exempt, exempt)


def _same_class(impl, exact):
    """IEEE class agreement (SPEC NF-1): NaN for NaN; the same infinity, or NaN, for an
    infinity (a lerp evaluates ∞ − ∞ where the textbook form does not)."""
    return (np.isnan(impl) & np.isnan(exact)) | (impl == exact) | (np.isinf(exact) & np.isnan(impl))
