"""A fast vectorised oracle for the reference step, in double-double arithmetic.

``exact.step`` costs tens of microseconds per element in mpmath; conformance runs over
millions of elements need the same exact values faster. Here every quantity is a
pair hi + lo of float64 built with error-free transformations, so the result agrees
with the exact step to ~2^-100 of the magnitudes involved: far below the binary64
rounding (2^-53) that the tightest conformance bound can resolve. Elements double-double
cannot vouch for (non-finite values, magnitudes near binary64's range limits, a zero
divisor) are recomputed by ``exact.step`` and counted in ``FastState.fallback``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import mpmath
import numpy as np

from adamspec.reference import exact, steps
from adamspec.reference.floats import BINARY64, float_format, round_to
from adamspec.reference.hyper import CANONICAL, Hyper, Mode, Variant, check_handled, handles

# The variant knob values ``_constants`` and ``_step_slice`` implement; checked against
# reference.hyper.KNOBS at import (no value outside the table). A variant with a value not
# named here is computed by ``exact.step`` for every element (counted in ``fallback``):
# slower, never a canonical step in disguise, and a new knob value needs no double-double
# code to be judged (CONTRIBUTING recipe 3). The scalars (bias corrections, step size,
# decay factor) are the exact reference's own functions evaluated at 320 bits.
HANDLED = {
    "decay_order": {"before", "after"},  # _step_slice: θ·d − lr·u or (θ − lr·u)·d
    "decay_scale": {"lr", "independent", "scheduled", "corrected"},  # _constants: steps.decay_factor, learning_rate
    # "root" has no double-double code: it goes to the exact reference (comment above)
    "eps_placement": {"outside", "hat", "inside", "floor"},  # _step_slice: the denominator and u
    "bias_correction": {True, False, "m"},  # _constants: steps.bias_corrections
    "amsgrad_over": {"v", "vhat"},  # _step_slice: the maximum's candidate
}
check_handled(__name__, HANDLED, subset=True)

# Veltkamp's constant for binary64: t = (2^27 + 1)·x, hi = t − (t − x) is x rounded to
# its top 26 bits and lo = x − hi fits in 26 bits (the sign carries the 53rd), so any
# product of two halves has at most 52 bits and is exact. This is Dekker's TwoProd
# without an FMA.
_SPLITTER = 134217729.0

# The fast path's safe range. A product ≥ 2^-900 keeps its TwoProd error term
# (≥ 2^-1006) and every partial product of Dekker's algorithm out of the subnormals, so
# they stay exact; values ≤ 2^900 can be split (t = 2^27·x) and squared-then-scaled
# without overflow. Nonzero values outside go to the mpmath fallback.
_LO = 2.0**-900
_HI = 2.0**900

# Per-call constants are evaluated in mpmath with this many bits, then rounded to a
# pair: 320 > 256 (the reference) so their own rounding is far below the pair's 2^-106.
_CONST_PREC = 320

# Arrays are processed in slices of this many elements: the ~30 float64 temporaries
# (128 KiB each) stay in cache, which makes a numpy chain of ~300 ops 2-3x faster.
_CHUNK = 1 << 14


@dataclass(frozen=True, eq=False)
class DD:
    """A double-double array: value = hi + lo exactly, |lo| <= ulp(hi)/2 (normalised)."""

    hi: np.ndarray
    lo: np.ndarray

    def to_float64(self) -> np.ndarray:
        return self.hi + self.lo  # == hi when normalised; kept for unnormalised inputs

    @property
    def shape(self):
        return self.hi.shape


@dataclass(frozen=True, eq=False)
class FastState:
    """The exact state after one step, as double-double arrays (cf. ``exact.State``)."""

    theta: DD
    m: DD
    v: DD
    vmax: DD | None
    t: int
    fallback: int  # how many elements were computed by the mpmath fallback


def error_vs(impl: np.ndarray, exact_value: DD) -> np.ndarray:
    """impl − exact in float64, as (impl − hi) − lo.

    impl − hi is exact whenever impl is within a factor 2 of hi (Sterbenz), i.e. for any
    result worth comparing, so the only rounding is the final one.
    """
    x = np.asarray(impl).astype(np.float64)
    with np.errstate(invalid="ignore"):
        return (x - exact_value.hi) - exact_value.lo


# ---------------------------------------------------------------- error-free building blocks
# Arguments are float64 arrays or Python floats; nothing here allocates beyond numpy's
# own temporaries.


def _two_sum(a, b):
    """Knuth's TwoSum: s + e == a + b exactly, for any ordering of |a|, |b|."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


def _fast_two_sum(a, b):
    """Dekker's Fast2Sum: exact when |a| >= |b| (or a == 0), as after a normalisation."""
    s = a + b
    return s, b - (s - a)


def _split(a):
    t = _SPLITTER * a
    hi = t - (t - a)
    return hi, a - hi


def _two_prod(a, ah, al, b, bh, bl):
    """Dekker's TwoProd from pre-split factors: p + e == a·b exactly (no FMA needed)."""
    p = a * b
    # Each partial product has ≤ 52 bits, so it is exact; Dekker shows the three
    # subtractions are exact too, leaving e = a·b − p.
    e = ah * bh - p
    e += ah * bl
    if not (isinstance(al, float) and al == 0.0):  # a constant of <= 26 bits has no low half
        e += al * bh
        e += al * bl
    return p, e


def _two_prod_k(k, x, xs):
    """TwoProd of an array by a scalar constant ``k`` = (k, kh, kl)."""
    return _two_prod(k[0], k[1], k[2], x, xs[0], xs[1])


def _dd_sloppy_add(ah, al, bh, bl):
    """Pair sum with error ≤ ~2u²·(|a| + |b|): enough where the terms' sizes are the scale."""
    s, e = _two_sum(ah, bh)
    e += al
    e += bl
    return _fast_two_sum(s, e)


def _dd_accurate_add(ah, al, bh, bl):
    """AccurateDWPlusDW (Joldes, Muller, Popescu 2017, Alg. 6): error ≤ 3u²·|a + b|.

    Relative to the *result*, so a sum that cancels is still right to ~2^-104 of itself.
    """
    sh, sl = _two_sum(ah, bh)
    th, tl = _two_sum(al, bl)
    c = sl + th
    vh, vl = _fast_two_sum(sh, c)
    w = tl + vl
    return _fast_two_sum(vh, w)


def _exact_sum(pairs):
    """The sum of exact (hi, lo) pairs, to ~n²u² of the *result*, whatever cancels.

    Two pairs: AccurateDWPlusDW. More: three VecSum passes (Ogita, Rump, Oishi's SumK),
    each an exact rewrite of the terms that leaves the running sum last and the
    rounding errors before it; after them the errors left are ~(nu)³ of the terms, so
    hi = last, lo = sum of the rest is right to ~n²u² relative to the sum.
    """
    if len(pairs) == 1:
        return pairs[0]
    if len(pairs) == 2:
        return _dd_accurate_add(*pairs[0], *pairs[1])
    p = [x for pair in pairs for x in pair]
    for _ in range(3):
        for i in range(1, len(p)):
            p[i], p[i - 1] = _two_sum(p[i - 1], p[i])
    rest = p[0]
    for x in p[1:-1]:
        rest = rest + x
    return _two_sum(p[-1], rest)


def _dd_mul_k(xh, xl, k, xs=None):
    """Pair × pair constant ``k`` = (hi, hi_h, hi_l, lo): error ≤ ~3u² of the product."""
    if k[0] == 1.0 and k[3] == 0.0:
        return xh, (0.0 if xl is None else xl)
    if xs is None:
        xs = _split(xh)
    p, e = _two_prod(k[0], k[1], k[2], xh, xs[0], xs[1])
    # The cross terms are ~u of the product; their rounding is ~u², xl·klo (~u²) is dropped.
    e += xh * k[3]
    if xl is not None:
        e += xl * k[0]
    return _fast_two_sum(p, e)


def _dd_sqr(xh, xl, xs):
    """Pair square: TwoProd(x, x) plus the cross term 2·xh·xl (QD's two_sqr)."""
    xhh, xhl = xs
    p = xh * xh
    e = xhh * xhh - p
    e += 2.0 * xhh * xhl  # exact: 26 × 26 bits, times 2
    e += xhl * xhl
    if xl is not None:
        e += 2.0 * xh * xl
    return _fast_two_sum(p, e)


def _dd_sqrt(xh, xl, xp=np):
    """√x of a pair x ≥ 0: the double root plus one Newton (Heron) correction.

    s = fl(√xh) is right to u; the residual x − s² is computed exactly (TwoProd for s²,
    and xh − s² is exact by Sterbenz since s² ≈ xh), and s + (x − s²)/(2s) is then right
    to ~u²: Newton doubles the correct bits and the quotient needs only one double's
    accuracy because it is ~u times s.
    """
    s = xp.sqrt(xh)
    sh, sl = _split(s)
    p = s * s
    e = sh * sh - p
    e += 2.0 * sh * sl
    e += sl * sl
    r = xh - p  # exact (Sterbenz)
    r -= e
    r += xl
    c = r / (2.0 * s)
    c[s == 0.0] = 0.0  # √0 = 0: 0/0 above
    return _fast_two_sum(s, c)


def _dd_div(xh, xl, yh, yl):
    """x / y of pairs: the double quotient plus one Newton correction.

    q1 = fl(xh/yh) is right to ~u; the residual x − q1·y is computed to ~u of itself
    (TwoProd for q1·yh, exact xh − p by Sterbenz, q1·yl only ~u of x), and since it is
    ~u·x, q1 + residual/yh restores the quotient to ~4u².
    """
    q1 = xh / yh
    p, e = _two_prod(q1, *_split(q1), yh, *_split(yh))
    r = xh - p
    r -= e
    r += xl
    r -= q1 * yl
    q2 = r / yh
    return _fast_two_sum(q1, q2)


def _in_range(x, lo=_LO, hi=_HI, zero_ok=True):
    """lo ≤ |x| ≤ hi, or x == 0 where zero_ok; False for NaN and ±inf."""
    a = abs(x)  # the builtin: numpy arrays and torch tensors alike
    r = a >= lo
    r &= a <= hi
    if zero_ok:
        r |= x == 0.0
    return r


def _bounds(*factors, lo=_LO, hi=_HI):
    """The range an array must lie in so that its products by ``factors`` stay in [lo, hi]."""
    for k in factors:
        k = abs(k)
        if k != 0.0:
            lo, hi = max(lo, _LO / k), min(hi, _HI / k)
    return lo, hi


# ---------------------------------------------------------------- per-call constants


def _pair(x: mpmath.mpf) -> tuple[float, float]:
    """An mpf as (hi, lo): hi its binary64 rounding, lo the remainder's; ±inf/NaN as (x, 0)."""
    if not mpmath.isfinite(x):
        return float(x), 0.0
    with mpmath.workprec(max(_CONST_PREC, mpmath.mp.prec)):
        hi = round_to(x, BINARY64)
        if not mpmath.isfinite(hi):  # beyond binary64's range: no pair can hold it
            return float(hi), 0.0
        return float(hi), float(round_to(x - hi, BINARY64))  # x − hi exact at this precision


def _split_scalar(x: float) -> tuple[float, float]:
    """Veltkamp split of a scalar; scaled by a power of two where 2^27·x would overflow."""
    if not np.isfinite(x):  # α·η or η·λ past binary64: every element falls back anyway
        return x, 0.0
    if abs(x) > 2.0**995:
        h, l = _split_scalar(x * 2.0**-200)
        return h * 2.0**200, l * 2.0**200
    t = _SPLITTER * x
    h = t - (t - x)
    return h, x - h


def _k1(x: float):
    """A binary64 constant with its split: (x, xh, xl)."""
    return (x, *_split_scalar(x))


def _k2(hi: float, lo: float):
    """A pair constant with its hi part split: (hi, hi_h, hi_l, lo)."""
    return (hi, *_split_scalar(hi), lo)


@dataclass(frozen=True)
class _Consts:
    trusted: bool  # False if a pair constant lies outside [2^-900, 2^900]: all fall back
    l2: bool
    lam: tuple  # λ (k1)
    b1: tuple  # β1 (k1)
    b2: tuple  # β2 (k1)
    c1: tuple  # 1 − β1 = c1h + c1l exactly: ((k1 of c1h), (k1 of c1l))
    c2: tuple  # 1 − β2 as a pair constant (k2)
    eps: float
    inv_bc1: tuple  # 1/(1 − β1^t) (k2)
    inv_bc2: tuple  # 1/(1 − β2^t) (k2)
    bc2: tuple  # 1 − β2^t (k2), for the ε-hat root over a v̂-maximum
    khat: tuple  # √(1 − β2^t)/(1 − β1^t) (k2), the ε-hat step factor
    lr: tuple  # α (·η when scheduled) (k2)
    d: tuple  # the decoupled decay factor (k2)


def _constants(h: Hyper, variant: Variant, t: int) -> _Consts:
    """Everything that depends only on hyperparameters and t, computed once per (h, variant, t):
    a trajectory or an identify grid asks for the same constants many times, and each costs
    320-bit arithmetic. The signs of the hyperparameters are part of the key (−0.0 == 0.0)."""
    signs = tuple(math.copysign(1.0, getattr(h, n)) for n in ("lr", "beta1", "beta2", "eps", "weight_decay"))
    return _constants_for(h, variant, t, signs)


@functools.lru_cache(maxsize=4096)
def _constants_for(h: Hyper, variant: Variant, t: int, signs: tuple) -> _Consts:
    """``_constants`` itself (``signs`` only keys the cache).

    β^t is mpmath's binary powering at 320 bits (exact to working precision for any t,
    as in the reference); no power is vectorised.
    """
    one = mpmath.mpf(1)
    with mpmath.workprec(_CONST_PREC):
        # the exact reference's scalars (AD-4 / VAR-5, AD-6 / VAR-3, AW-4 / VAR-3) at 320 bits
        bc1, bc2 = steps.bias_corrections(t, h, variant)
        lr = steps.learning_rate(h, variant)
        d = steps.decay_factor(h, variant)
        inv_bc1, inv_bc2 = one / bc1, one / bc2
        khat = mpmath.sqrt(bc2) / bc1
    # 1 − β is exact as a TwoSum pair (an mpf rounding would lose it for tiny β), so the
    # moment terms below can be exact products.
    c1h, c1l = _two_sum(1.0, -h.beta1)
    c2h, c2l = _two_sum(1.0, -h.beta2)
    exact_values = {"inv_bc1": inv_bc1, "inv_bc2": inv_bc2, "bc2": bc2, "khat": khat,
                    "lr": lr, "d": d}
    return _Consts(
        # A pair below 2^-969 loses bits to the subnormals (or is 0), one past 2^1024 is
        # ±inf: e.g. α·η = 1e-159·1e-296 has no pair. Such calls go to mpmath whole.
        trusted=all(x == 0 or _LO <= abs(x) <= _HI for x in exact_values.values()),
        l2=h.mode is Mode.ADAM_L2 and h.weight_decay != 0.0,  # AD-13: λ = 0 adds nothing, not 0·θ
        lam=_k1(h.weight_decay),
        b1=_k1(h.beta1),
        b2=_k1(h.beta2),
        c1=(_k1(c1h), _k1(c1l)),
        c2=_k2(c2h, c2l),
        eps=h.eps,
        **{name: _k2(*_pair(x)) for name, x in exact_values.items()},
    )


# ---------------------------------------------------------------- the step on one slice


def _denominator(dh, dl, corrected: bool, K: _Consts, placement: str, xp=np):
    """AD-5 / VAR-4: the denominator from the (possibly corrected) second moment, and the mask of
    elements whose intermediate values stay in double-double's trusted range."""
    eps = K.eps
    if placement == "hat":
        if corrected:
            dh, dl = _dd_mul_k(dh, dl, K.bc2)  # v_raw = v̂·(1 − β2^t)
        ok = _in_range(dh)
        rh, rl = _dd_sqrt(dh, dl, xp)
        return (*_dd_sloppy_add(rh, rl, eps, 0.0), ok)
    if not corrected:
        dh, dl = _dd_mul_k(dh, dl, K.inv_bc2)  # v̂ = v/(1 − β2^t)
    ok = _in_range(dh)
    if placement == "outside":
        rh, rl = _dd_sqrt(dh, dl, xp)
        return (*_dd_sloppy_add(rh, rl, eps, 0.0), ok)
    if placement == "inside":  # √(v̂ + ε)
        wh, wl = _dd_sloppy_add(dh, dl, eps, 0.0)
        ok &= _in_range(wh, zero_ok=False)
        return (*_dd_sqrt(wh, wl, xp), ok)
    # floor: max(√v̂, ε), a selection, so exact (a NaN v̂ is out of range above: fallback)
    rh, rl = _dd_sqrt(dh, dl, xp)
    above = (rh > eps) | ((rh == eps) & (rl >= 0.0))
    return xp.where(above, rh, eps), xp.where(above, rl, 0.0), ok


def _step_slice(th, g, m, v, vm, K: _Consts, h: Hyper, p: Variant, xp=np):
    """One step on 1-D float64 slices; returns the output pairs and the trust mask.

    ``xp`` is the array namespace of the slices: numpy here, torch for reference/fast_torch.py.
    Only operators and xp.sqrt, xp.where, xp.isfinite appear; with operators correctly rounded
    in IEEE binary64 and xp.sqrt correctly rounded too, every namespace computes the same bits.
    (No division by a scalar: torch turns that into a multiplication by its reciprocal on
    CUDA. torch's own CPU sqrt is only faithful, so fast_torch passes a correctly rounded one.)"""
    # -- input ranges, adjusted so that every major product below stays in [2^-900, 2^900]
    ok = _in_range(m, *_bounds(K.b1[0]))
    ok &= _in_range(v, *_bounds(K.b2[0]))
    ok &= v >= 0.0  # keeps v_t a sum of nonnegative terms, without cancellation
    th_k = [K.d[0]] if p.decay_order == "before" else []
    if K.l2:
        th_k += [K.lam[0], K.lam[0] * K.c1[0][0]]
    ok &= _in_range(th, *_bounds(*th_k))
    c2 = K.c2[0]
    # the gradient is multiplied by 1 − β1 and squared, then multiplied by 1 − β2
    sq_lo, sq_hi = _bounds(c2)
    g_range = _bounds(K.c1[0][0], lo=max(_LO, np.sqrt(sq_lo)), hi=min(_HI, np.sqrt(sq_hi)))
    gs = -g if h.maximize else g  # MAX-1 (exact)
    if h.amsgrad:
        ok &= _in_range(vm) & (vm >= 0.0)

    # -- MAX-1, L2-1: g_eff = ±g + λθ, kept as the exact terms (gs, p1, p2)
    gs_split = _split(gs)
    if K.l2:
        ok &= _in_range(g, *_bounds(K.c1[0][0]))
        p1, p2 = _two_prod_k(K.lam, th, _split(th))
        s, e = _two_sum(gs, p1)
        # DWPlusFP (Joldes et al. Alg. 4): error ≤ 2u² of g_eff itself, even if it cancels
        s, e2 = _two_sum(s, p2)
        e2 += e
        geh, gel = _fast_two_sum(s, e2)
        ok &= _in_range(geh, *g_range)  # covers the square of a cancelled g_eff
        g_terms = [(gs, gs_split), (p1, _split(p1)), (p2, _split(p2))]
        ge_split = _split(geh)
    else:
        ok &= _in_range(g, *g_range)
        geh, gel = gs, None
        g_terms = [(gs, gs_split)]
        ge_split = gs_split

    # -- AD-2: m_t = β1·m + (1 − β1)·g_eff as a sum of exact products, so that m_t is right
    # to ~2^-100 of itself even when the terms cancel (u ∝ m_t, and θ_t's scale has |α·u|).
    pairs = []
    if K.b1[0] != 0.0:
        pairs.append(_two_prod_k(K.b1, m, _split(m)))
    for c in K.c1:
        if c[0] != 0.0:
            for x, xs in g_terms:
                pairs.append(_two_prod_k(c, x, xs))
    mh, ml = _exact_sum(pairs)

    # -- AD-3: v_t = β2·v + (1 − β2)·g_eff²; all terms ≥ 0, so pair errors are relative
    qh, ql = _dd_sqr(geh, gel, ge_split)
    qh, ql = _dd_mul_k(qh, ql, K.c2)
    if K.b2[0] != 0.0:
        bh, bl = _two_prod_k(K.b2, v, _split(v))
        vh, vl = _dd_sloppy_add(bh, bl, qh, ql)
    else:
        vh, vl = qh, ql

    # -- AMS-1 / VAR-6: the running maximum (inputs are finite here, so no NaN to carry)
    vmh = vml = None
    dh, dl, corrected = vh, vl, False
    if h.amsgrad:
        if p.amsgrad_over == "v":
            ch, cl = vh, vl
        else:
            ch, cl = _dd_mul_k(vh, vl, K.inv_bc2)
            corrected = True
        keep = (vm > ch) | ((vm == ch) & (cl <= 0.0))  # nan_max(vmax, c): vmax if vmax ≥ c
        vmh = xp.where(keep, vm, ch)
        vml = xp.where(keep, 0.0, cl)
        dh, dl = vmh, vml

    # -- AD-5 / VAR-4: the denominator
    denh, denl, trusted = _denominator(dh, dl, corrected, K, p.eps_placement, xp)
    ok &= trusted
    ok &= _in_range(denh, zero_ok=False)  # a zero divisor gives ±inf/NaN: fallback

    # -- u = m̂/(√v̂ + ε) (or its variants); zero only where m_t is zero (not by underflow)
    lr = K.lr
    m_zero = mh == 0.0
    if p.eps_placement == "hat":
        ok &= _in_range(mh)
        qh, ql = _dd_div(mh, ml, denh, denl)
        ok &= _in_range(qh, *_bounds(K.khat[0], K.khat[0] * lr[0]), zero_ok=False) | m_zero
        uh, ul = _dd_mul_k(qh, ql, K.khat)
    else:
        nh, nl = _dd_mul_k(mh, ml, K.inv_bc1)
        ok &= _in_range(nh)
        uh, ul = _dd_div(nh, nl, denh, denl)
        ok &= _in_range(uh, *_bounds(lr[0]), zero_ok=False) | m_zero

    # -- AW-1 / AD-6 / VAR-2: θ_t = θ·d − lr·u (before) or (θ − lr·u)·d (after)
    sh, sl = _dd_mul_k(uh, ul, lr)
    if p.decay_order == "before":
        ah, al = _dd_mul_k(th, None, K.d)
        t_h, t_l = _dd_sloppy_add(ah, al, -sh, -sl)
    else:
        ah, al = _dd_sloppy_add(th, 0.0, -sh, -sl)
        # θ − lr·u may cancel to below 2^-900, where the product by d would lose bits
        ok &= _in_range(ah, *_bounds(K.d[0]))
        t_h, t_l = _dd_mul_k(ah, al, K.d)
    ok &= xp.isfinite(t_h)
    if not K.trusted:
        ok[:] = False
    return (t_h, t_l), (mh, ml), (vh, vl), (vmh, vml), ok


# ---------------------------------------------------------------- the public step


def _widen(a, shape, name):
    a = np.asarray(a)
    float_format(a.dtype)  # the four binary formats only
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}, theta has shape {shape}")
    return a.astype(np.float64, copy=False).reshape(-1)  # exact widening


def _as_dd(x: np.ndarray, shape) -> DD:
    return DD(x.reshape(shape).copy(), np.zeros(shape))


def fast_step(theta, grad, m, v, t_prev: int, hyper: Hyper, variant: Variant = CANONICAL,
              vmax=None) -> FastState:
    """One step of ``exact.step``'s algorithm in double-double; same arguments, same values.

    ``m``, ``v``, ``vmax`` may be None (zeros: a fresh state). ``grad=None`` is an absent
    gradient: the state comes back unchanged and t does not advance (NOGRAD-1/2).
    """
    if t_prev < 0 or int(t_prev) != t_prev:
        raise ValueError(f"step count must be a non-negative integer, got {t_prev!r}")
    t_prev = int(t_prev)
    shape = np.shape(theta)
    th = _widen(theta, None, "theta")
    n = th.size
    zeros = np.zeros(n)
    mm = zeros if m is None else _widen(m, shape, "m")
    vv = zeros if v is None else _widen(v, shape, "v")
    vm = None if vmax is None else _widen(vmax, shape, "vmax")
    if hyper.amsgrad and vm is None:
        vm = zeros
    if grad is None:
        return FastState(_as_dd(th, shape), _as_dd(mm, shape), _as_dd(vv, shape),
                         None if vm is None else _as_dd(vm, shape), t_prev, 0)
    g = _widen(grad, shape, "grad")
    t = t_prev + 1  # AD-1: the count advances first
    outs = [np.empty(n) for _ in range(8 if hyper.amsgrad else 6)]
    if handles(HANDLED, variant):
        bad = _fast_slices(th, g, mm, vv, vm, _constants(hyper, variant, t), hyper, variant, outs)
    else:  # a knob value without double-double code: every element exact (module comment at HANDLED)
        bad = [np.arange(n)]
    idx = np.concatenate(bad) if bad else np.zeros(0, dtype=np.intp)
    if idx.size:
        _fallback(idx, th, g, mm, vv, vm, t_prev, hyper, variant, outs)

    def dd(i):
        return DD(outs[i].reshape(shape), outs[i + 1].reshape(shape))

    if hyper.amsgrad:
        vmax_out = dd(6)
    else:
        vmax_out = None if vm is None else _as_dd(vm, shape)  # unchanged, as in exact.step
    return FastState(dd(0), dd(2), dd(4), vmax_out, t, int(idx.size))


def _fast_slices(th, g, mm, vv, vm, K: _Consts, hyper: Hyper, variant: Variant, outs) -> list:
    """The double-double step over cache-sized slices into ``outs``; the untrusted indices."""
    bad = []
    with np.errstate(all="ignore"):  # untrusted elements may overflow; they are redone
        for lo in range(0, th.size, _CHUNK):
            sl = slice(lo, min(th.size, lo + _CHUNK))
            res = _step_slice(th[sl], g[sl], mm[sl], vv[sl], None if vm is None else vm[sl],
                              K, hyper, variant)
            for i, arr in enumerate(x for pair in res[: len(outs) // 2] for x in pair):
                outs[i][sl] = arr
            if not res[4].all():
                bad.append(lo + np.flatnonzero(~res[4]))
    return bad


def _fallback(idx, th, g, m, v, vm, t_prev, hyper, variant, outs):
    """Recompute the untrusted elements with the exact reference and store them as pairs."""
    pairs = fallback_pairs(th[idx], g[idx], m[idx], v[idx], vm[idx] if hyper.amsgrad else None,
                           t_prev, hyper, variant)
    for k, (hi, lo) in enumerate(pairs):
        outs[2 * k][idx], outs[2 * k + 1][idx] = hi, lo


def fallback_pairs(th, g, m, v, vm, t_prev, hyper, variant) -> list[tuple[np.ndarray, np.ndarray]]:
    """The exact step of some elements (float64 arrays) as (hi, lo) arrays for θ, m, v (and
    vmax with AMSGrad): the one fallback of every double-double oracle (numpy or torch)."""
    state = exact.State.from_floats(th, m, v, t_prev, vm if hyper.amsgrad else None)
    res = exact.step(state, g, hyper, variant)
    arrays = [res.theta, res.m, res.v] + ([res.vmax] if hyper.amsgrad else [])
    out = []
    for values in arrays:
        pairs = [_pair(x) for x in values]
        out.append((np.array([p[0] for p in pairs], dtype=np.float64).reshape(-1),
                    np.array([p[1] for p in pairs], dtype=np.float64).reshape(-1)))
    return out
