"""The derived error bound (SPEC NUM-2, NUM-3): it admits every correct evaluation order,
and it is tight enough that the named variants fall outside it where strategies look."""

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from adamspec.adapters.numpy_impl import ORDERS, numpy_step
from adamspec.reference import CANONICAL, KNOBS, Hyper, State, Variant, float_format, step
from adamspec.reference.bound import Arithmetic, C, measure, step_bound

DTYPES = ["float64", "float32", "bfloat16"]


def representable(dtype, lo_exp, hi_exp, nonneg=False, zero=True):
    """Values exactly representable in ``dtype`` with magnitudes 10^lo … 10^hi (or 0)."""
    fmt = float_format(dtype)

    def cast(x):
        return float(np.array(x).astype(fmt.dtype).astype(np.float64))

    mags = st.builds(lambda e, f: f * 10.0**e, st.floats(lo_exp, hi_exp), st.floats(1.0, 9.99))
    signed = mags if nonneg else st.builds(lambda x, s: s * x, mags, st.sampled_from([-1.0, 1.0]))
    values = st.one_of(st.just(0.0), signed) if zero else signed
    return values.map(cast)


@st.composite
def one_step_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    n = 6
    # Magnitudes keep g'² inside the compute format's range (NUM-7 covers the rest).
    hi = {"float64": 100, "float32": 15, "bfloat16": 15}[dtype]
    lo = {"float64": -100, "float32": -15, "bfloat16": -15}[dtype]
    arr = lambda s: np.array(draw(st.lists(s, min_size=n, max_size=n)))  # noqa: E731
    t_prev = draw(st.sampled_from([0, 1, 2, 9, 100, 10**4, 10**6, 10**7 - 1]))
    theta = arr(representable(dtype, lo, hi))
    g = arr(representable(dtype, lo, hi))
    m = arr(representable(dtype, lo, hi)) if t_prev else np.zeros(n)
    v = arr(representable(dtype, 2 * lo, 2 * hi, nonneg=True)) if t_prev else np.zeros(n)
    mode = draw(st.sampled_from(["adam", "adam_l2", "adamw"]))
    lr = draw(st.sampled_from([0.0, 1e-4, 1e-3, 0.1, 1.0]))
    wd = 0.0 if mode == "adam" else draw(st.sampled_from([0.0, 1e-2, 0.1, 0.5]))
    h = Hyper(lr=lr, beta1=draw(st.sampled_from([0.0, 0.5, 0.9, 0.999])),
              beta2=draw(st.sampled_from([0.0, 0.9, 0.999, 0.9999999])),
              eps=draw(st.sampled_from([1e-30, 1e-8, 1e-3, 1.0])), weight_decay=wd, mode=mode,
              amsgrad=draw(st.booleans()), maximize=draw(st.booleans()))
    vmax = np.maximum(v, arr(representable(dtype, 2 * lo, 2 * hi, nonneg=True))) if h.amsgrad else None
    if h.amsgrad and not t_prev:
        vmax = np.zeros(n)
    return dtype, theta, g, m, v, vmax, t_prev, h


def _check(dtype, theta, g, m, v, vmax, t_prev, h, computed, variant=CANONICAL, arith=None):
    """Every stored output of ``computed`` lies within C·B of the exact value (of ``variant``)."""
    exact = step(State.from_floats(theta, m, v, t_prev, vmax=vmax), g, h, variant)
    ex64 = exact.as_float64()
    arith = Arithmetic(compute=dtype) if arith is None else arith
    b = step_bound(theta, g, m, v, t_prev, h, arith, dtype, ex64, variant, vmax=vmax)
    worst = 0.0
    for name, got in zip(("theta", "m", "v", "vmax"), computed):
        if got is None:
            continue
        ex = getattr(exact, name)
        got64 = np.asarray(got, dtype=np.float64)
        with mpmath.workprec(256):
            err = np.array([float(mpmath.mpf(float(a)) - e) if mpmath.isfinite(e) else 0.0
                            for a, e in zip(got64, ex)])
        meas = measure(got64, ex64[name], err, getattr(b, name), dtype, b.outside_model)
        assert meas.ok.all(), (name, meas.fraction, got64, ex64[name], getattr(b, name))
        worst = max(worst, float(np.nanmax(np.where(meas.exempt, 0, meas.fraction), initial=0)))
    return worst


@pytest.mark.parametrize("order", ORDERS)
@given(case=one_step_cases())
def test_bound_admits_every_evaluation_order(order, case):
    dtype, theta, g, m, v, vmax, t_prev, h = case
    assume(order != "capturable" or h.lr > 0)  # that form divides by the step size
    dt = float_format(dtype).dtype
    cast = lambda a: None if a is None else np.asarray(a).astype(dt)  # noqa: E731
    out = numpy_step(cast(theta), cast(g), cast(m), cast(v), cast(vmax), t_prev, h, order)
    _check(dtype, theta, g, m, v, vmax, t_prev, h, out[:4])


def variants():
    """Any variant, every knob's values drawn from the table (reference.hyper.KNOBS)."""
    knobs = {name: st.sampled_from(knob.values) for name, knob in KNOBS.items()}
    return st.builds(Variant, schedule_multiplier=st.sampled_from([1.0, 0.5, 3.0]),
                     max_lr=st.sampled_from([1.0, 0.1, 1e-3]), eps_root=st.sampled_from([0.0, 1e-16, 1e-8, 1e-3]),
                     **knobs)


@given(case=one_step_cases(), variant=variants())
def test_bound_admits_every_variant(case, variant):
    """The bound of each knob value (SPEC VAR-*) admits a plain implementation of it (the numpy
    textbook order, written from the VAR formulas): a value the bound forgot, or derives for
    the canonical step, fails here."""
    dtype, theta, g, m, v, vmax, t_prev, h = case
    dt = float_format(dtype).dtype
    cast = lambda a: None if a is None else np.asarray(a).astype(dt)  # noqa: E731
    out = numpy_step(cast(theta), cast(g), cast(m), cast(v), cast(vmax), t_prev, h, "textbook", variant)
    _check(dtype, theta, g, m, v, vmax, t_prev, h, out[:4], variant)


@st.composite
def near_underflow_cases(draw):
    """Steps whose intermediates (λθ, α·m, m̂/D, α·u) fall below the normal range."""
    dtype = draw(st.sampled_from(["float32", "bfloat16"]))
    n = 6
    arr = lambda s: np.array(draw(st.lists(s, min_size=n, max_size=n)))  # noqa: E731
    t_prev = draw(st.sampled_from([0, 1, 9, 1000]))
    theta = arr(representable(dtype, -38, -30))
    g = arr(representable(dtype, -44, -36))
    m = arr(representable(dtype, -44, -34)) if t_prev else np.zeros(n)
    v = arr(representable(dtype, -20, -8, nonneg=True)) if t_prev else np.zeros(n)
    mode = draw(st.sampled_from(["adam", "adam_l2", "adamw"]))
    h = Hyper(lr=draw(st.sampled_from([1e-6, 1e-4, 1e-2, 1.0])),
              beta1=draw(st.sampled_from([0.0, 0.9])), beta2=draw(st.sampled_from([0.0, 0.999])),
              eps=draw(st.sampled_from([1e-30, 1e-8])), weight_decay=0.0 if mode == "adam" else 1e-4,
              mode=mode, amsgrad=False)
    return dtype, theta, g, m, v, None, t_prev, h


@pytest.mark.parametrize("order", ORDERS)
@given(case=near_underflow_cases())
def test_bound_admits_every_evaluation_order_near_underflow(order, case):
    """Gradual underflow in the step's intermediates stays within B (SPEC NUM-3's h terms)."""
    dtype, theta, g, m, v, vmax, t_prev, h = case
    dt = float_format(dtype).dtype
    cast = lambda a: None if a is None else np.asarray(a).astype(dt)  # noqa: E731
    out = numpy_step(cast(theta), cast(g), cast(m), cast(v), cast(vmax), t_prev, h, order)
    _check(dtype, theta, g, m, v, vmax, t_prev, h, out[:4])


def test_step_size_product_underflow_needs_its_term():
    """torch's fused order rounds (α/bc1)·m below the normal range, then divides by D ~ 1e-8.

    Found on torch.adam.fused (bf16 params, seed 18 of the default profile): the stored θ was
    2.4× the exact one. The error is real IEEE behaviour of that order, so B must carry it —
    and here it uses most of B, which shows the term is needed and not slack.
    """
    f32 = lambda x: float(np.float32(x))  # noqa: E731
    theta = np.array([f32(-5.3038e-35)])
    vmax = np.array([f32(1.0018e-16)])
    h = Hyper(lr=1e-4, beta1=0.0, beta2=0.0, eps=1e-30, weight_decay=1e-4, mode="adam_l2", amsgrad=True)
    zero = np.zeros(1)
    cast = lambda a: np.asarray(a).astype(np.float32)  # noqa: E731
    out = numpy_step(cast(theta), cast(zero), cast(zero), cast(zero), cast(vmax), 10, h, "step_size_first")
    assert 0.5 < _check("float32", theta, zero, zero, zero, vmax, 10, h, out[:4]) <= 1.0


def test_bound_is_not_vacuous():
    """A textbook float32 step uses a visible share of the bound on ordinary inputs."""
    rng = np.random.default_rng(7)
    n = 400
    theta, g = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    m, v = (0.1 * rng.standard_normal(n)).astype(np.float32), rng.random(n).astype(np.float32)
    h = Hyper(lr=1e-2, weight_decay=0.1, mode="adamw")
    out = numpy_step(theta, g, m, v, None, 100, h, "torch_forloop")
    worst = _check("float32", *(a.astype(np.float64) for a in (theta, g, m, v)), None, 100, h, out[:4])
    assert 0.1 < worst <= 1.0


# --- the moments' weight held in the storage dtype (SPEC DT-4, NUM-3's m_t term) ---


def _held_weight_step(theta, g, m, v, vmax, t_prev, h, storage, weight_off_ulps=0):
    """torch's compiled foreach order for reduced-precision storage, in numpy: every operation in
    float32, the lerp weight w = 1 − β₁ cast to the storage dtype (``weight_off_ulps`` storage
    units further, to make a wrong one), the dual lerp formula of dynamo's polyfill, results
    rounded to storage once."""
    f32, st_dt = np.float32, float_format(storage).dtype
    w = np.array(1 - h.beta1, dtype=st_dt)
    for _ in range(weight_off_ulps):
        w = np.nextafter(w, np.array(0, dtype=st_dt)) if w > 0.5 else np.nextafter(w, np.array(1, dtype=st_dt))
    w = f32(w)
    th, g, m, v = (np.asarray(a, dtype=f32) for a in (theta, g, m, v))
    with np.errstate(all="ignore"):
        g = -g if h.maximize else g
        if h.mode == "adam_l2" and h.weight_decay:
            g = g + f32(h.weight_decay) * th
        if h.mode == "adamw":
            th = th * f32(1 - h.lr * h.weight_decay)
        m1 = g - (f32(1) - w) * (g - m) if w >= 0.5 else m + w * (g - m)
        v1 = f32(h.beta2) * v + f32(1 - h.beta2) * g * g
        vd = v1 if vmax is None else np.maximum(np.asarray(vmax, dtype=f32), v1)
        t = t_prev + 1
        den = np.sqrt(vd) / f32((1 - h.beta2**t) ** 0.5) + f32(h.eps)
        th1 = th - f32(h.lr / (1 - h.beta1**t)) * (m1 / den)
    stored = (th1, m1, v1, None if vmax is None else vd)
    return tuple(None if a is None else np.asarray(a).astype(st_dt) for a in stored)


@given(case=one_step_cases())
def test_bound_admits_a_weight_held_in_the_storage_dtype(case):
    """Declared (Arithmetic.weight = storage), the bound admits compiled foreach's order: the
    rounding of 1 − β₁ to bfloat16 reaches both |m| and |g′| (the exact m is (1 − w)m + w·g′)."""
    dtype, theta, g, m, v, vmax, t_prev, h = case
    assume(dtype != "float64")
    out = _held_weight_step(theta, g, m, v, vmax, t_prev, h, dtype)
    _check(dtype, theta, g, m, v, vmax, t_prev, h, out, arith=Arithmetic(compute="float32", weight=dtype))


def _weight_case(storage):
    """β₁ = 0.001 with g = 0, m = −1: m is the weight's complement, so the weight's rounding is
    all of m's error (torch's compiled foreach: m = 0 in bfloat16, −2⁻¹⁰ in float16)."""
    h = Hyper(lr=1e-3, beta1=0.001, beta2=0.999, eps=1e-8, mode="adamw")
    one = np.ones(3)
    return one, 0 * one, -one, one, None, 5, h


@pytest.mark.parametrize("storage", ["bfloat16", "float16"])
def test_the_held_weight_needs_declaring_and_a_wrong_weight_still_fails(storage):
    """Undeclared, the bound rejects the rounded weight (the finding the declaration records);
    declared, it admits it, but a weight two storage units further off still fails."""
    case = _weight_case(storage)
    held = Arithmetic(compute="float32", weight=storage)
    out = _held_weight_step(*case, storage)
    _check(storage, *case, out, arith=held)
    with pytest.raises(AssertionError):
        _check(storage, *case, out, arith=Arithmetic(compute="float32"))
    wrong = _held_weight_step(*case, storage, weight_off_ulps=2)
    with pytest.raises(AssertionError):
        _check(storage, *case, wrong, arith=held)


# --- separation: the named variants fall outside the canonical bound where strategies look ---


def _region(kind, dtype, rng, n=300):
    dt = float_format(dtype).dtype
    r = lambda lo, hi: (10.0 ** rng.uniform(lo, hi, n)).astype(dt).astype(np.float64)  # noqa: E731
    sign = lambda: rng.choice([-1.0, 1.0], n)  # noqa: E731
    if kind == "hat":  # small t, v̂ with √v̂ comparable to ε
        eps, t_prev = 1e-3, 1
        g, m = sign() * r(-4, -2), sign() * r(-4, -2)
        v = (eps**2 * r(-1, 1) * (1 - 0.999**2)).astype(dt).astype(np.float64)
        h, prof = Hyper(lr=1e-3, eps=eps, weight_decay=0.01), Variant(eps_placement="hat")
    elif kind == "after":  # large lr·λ
        t_prev, g, m, v = 10, sign() * r(-3, 0), sign() * r(-3, 0), r(-6, 0)
        h, prof = Hyper(lr=0.1, weight_decay=4.0, eps=1e-8), Variant(decay_order="after")
    else:  # ε inside the root: v̂ comparable to ε
        eps, t_prev = 1e-8, 100
        bc2 = 1 - 0.999**101
        g, m = sign() * r(-5, -3), sign() * r(-5, -3)
        v = (eps * bc2 * r(-1, 1)).astype(dt).astype(np.float64)
        h, prof = Hyper(lr=1e-3, eps=eps, weight_decay=0.01), Variant(eps_placement="inside")
    # θ on the scale of the step: otherwise a low-precision store cannot hold the step at all.
    theta = sign() * h.lr * r(-1, 1)
    return theta, g, m, v, t_prev, h, prof


@pytest.mark.parametrize("dtype,share", [("float64", 0.95), ("float32", 0.95), ("bfloat16", 0.5)])
@pytest.mark.parametrize("kind", ["hat", "after", "inside"])
def test_variants_fall_outside_the_canonical_bound(kind, dtype, share):
    """In each variant's region most elements differ from canonical by more than C·B.

    bfloat16 computes with u = 2⁻⁸, so its bound is ~40000× an fp32 one and only
    O(1) relative differences separate; the asserted share is lower for it.
    """
    rng = np.random.default_rng(hash((kind, dtype)) % 2**32)
    theta, g, m, v, t_prev, h, prof = _region(kind, dtype, rng)
    s = State.from_floats(theta, m, v, t_prev)
    canonical, variant = step(s, g, h), step(s, g, h, prof)
    b = step_bound(theta, g, m, v, t_prev, h, Arithmetic(compute=dtype), dtype, canonical.as_float64())
    diff = np.abs(variant.as_float64()["theta"] - canonical.as_float64()["theta"])
    assert (diff > C * b.theta).mean() >= share
