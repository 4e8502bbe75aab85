"""The double-double oracle computes the exact reference step (reference/fast.py).

Agreement is checked against ``exact.step`` in mpmath to 2^-90 of each output's scale,
the sum of the absolute values of the terms that formed it: far inside the 2^-63 that
the oracle may spend (1/1000 of a binary64 rounding), yet loose enough for pair
arithmetic's ~2^-100.
"""

import ml_dtypes
import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adamspec.reference import (
    BINARY64,
    KNOBS,
    Hyper,
    Mode,
    State,
    Variant,
    exact,
    round_to,
    steps,
    to_mpf_array,
)
from adamspec.reference import fast as fast_module
from adamspec.reference.fast import DD, error_vs, fast_step

TOL = mpmath.mpf(2) ** -90
FLOOR = mpmath.mpf(2) ** -1074  # a pair holds nothing finer than binary64's subnormal step
BETAS = [0.0, 1e-3, 0.5, 0.9, 0.999, 0.9999999]
EPSS = [0.0, 1e-30, 1e-8, 1.0]
DTYPES = [np.float64, np.float32, ml_dtypes.bfloat16, np.float16]


def _scales(theta, g, m, v, vmax, t, h: Hyper, p: Variant):
    """Per element: the term-magnitude scales of θ_t, m_t, v_t, vmax_t (as exact._element_step)."""
    b1, b2 = mpmath.mpf(h.beta1), mpmath.mpf(h.beta2)
    ge = steps.effective_gradient(g, theta, h)
    m1, v1 = steps.first_moment(m, ge, h), steps.second_moment(v, ge, h)
    bc1, bc2 = steps.bias_corrections(t, h, p)
    sm = abs(b1 * m) + abs((1 - b1) * ge)
    sv = abs(b2 * v) + abs((1 - b2) * ge * ge)
    denom, corrected, svm = v1, False, None
    if h.amsgrad:
        denom = steps.amsgrad_max(vmax, v1, bc2, p)
        corrected = p.amsgrad_over == "vhat"
        svm = max(abs(vmax), sv / bc2 if corrected else sv)
    u = steps.normalised_update(m1, denom, bc1, bc2, h, p, corrected)
    d, lr = steps.decay_factor(h, p), steps.learning_rate(h, p)
    if p.decay_order == "before":
        st_ = abs(theta * d) + abs(lr * u)
    else:
        st_ = (abs(theta) + abs(lr * u)) * abs(d)
    return st_, sm, sv, svm


def _check_value(got_hi, got_lo, want, scale, what):
    hi = mpmath.mpf(float(got_hi))
    if not mpmath.isfinite(want):
        assert (mpmath.isnan(want) and mpmath.isnan(hi)) or hi == want, (what, got_hi, want)
        return
    if mpmath.isinf(round_to(want, BINARY64)):  # exact, but beyond binary64's range
        assert hi == round_to(want, BINARY64), (what, got_hi, want)
        return
    err = abs(hi + mpmath.mpf(float(got_lo)) - want)
    assert mpmath.isfinite(scale), (what, scale)
    assert err <= TOL * scale + FLOOR, (what, float(got_hi), mpmath.nstr(want, 20),
                                       mpmath.nstr(err, 5), mpmath.nstr(scale, 5))


def _assert_agrees(theta, g, m, v, vmax, t_prev, h, p, oracle=fast_step):
    """``oracle`` (fast_step, or another with its signature and numpy results: the torch
    oracle's tests) against exact.step on the same inputs; returns the FastState."""
    n = np.size(theta)
    zeros = np.zeros(np.shape(theta))
    if h.amsgrad and vmax is None:
        vmax_e = zeros
    else:
        vmax_e = vmax if h.amsgrad else None
    state = State.from_floats(theta, zeros if m is None else m, zeros if v is None else v,
                              t_prev, vmax_e)
    want = exact.step(state, g, h, p)
    got = oracle(theta, g, m, v, t_prev, h, p, vmax=vmax)
    assert got.t == want.t == t_prev + 1
    assert 0 <= got.fallback <= n
    with mpmath.workprec(320):
        ins = [a.reshape(-1) for a in (state.theta, to_mpf_array(g), state.m, state.v)]
        vm_in = state.vmax.reshape(-1) if h.amsgrad else [None] * n
        for i in range(n):
            scales = _scales(*(a[i] for a in ins), vm_in[i], want.t, h, p)
            names = ("theta", "m", "v", "vmax") if h.amsgrad else ("theta", "m", "v")
            for name, scale in zip(names, scales):
                dd = getattr(got, name)
                _check_value(dd.hi.reshape(-1)[i], dd.lo.reshape(-1)[i],
                             getattr(want, name).reshape(-1)[i], scale, (name, i))
    if not h.amsgrad:
        assert (got.vmax is None) == (vmax is None)
    return got


def _element(signed: bool):
    mag = st.floats(-30, 30).map(lambda e: 10.0**e)
    nonzero = st.tuples(st.sampled_from([1.0, -1.0]), mag).map(lambda sm: sm[0] * sm[1])
    return st.one_of(st.just(0.0), st.sampled_from([1.0, -1.0, 0.5, -2.0]),
                     nonzero if signed else mag)


def variants():
    """Any variant: every knob's values drawn from the table (reference.hyper.KNOBS), so that a
    value added there is compared with the exact step here without editing this test."""
    knobs = {name: st.sampled_from(knob.values) for name, knob in KNOBS.items()}
    return st.builds(Variant, schedule_multiplier=st.sampled_from([1.0, 0.5, 0.0, 3.0]),
                     max_lr=st.sampled_from([1.0, 0.01]), eps_root=st.sampled_from([0.0, 1e-8]), **knobs)


@st.composite
def cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    fmax = float(ml_dtypes.finfo(dtype).max)
    n = draw(st.integers(1, 4))

    def arr(signed):
        xs = draw(st.lists(_element(signed), min_size=n, max_size=n))
        xs = [abs(x) for x in xs] if not signed else xs
        return np.clip(np.array(xs), -fmax, fmax).astype(dtype)  # in the dtype's finite range

    mode = draw(st.sampled_from(list(Mode)))
    unit = st.one_of(st.sampled_from([0.0, 1e-3, 0.1, 1.0]), st.floats(0, 1))
    h = Hyper(
        lr=draw(unit),
        beta1=draw(st.sampled_from(BETAS)),
        beta2=draw(st.sampled_from(BETAS)),
        eps=draw(st.sampled_from(EPSS)),
        weight_decay=0.0 if mode is Mode.ADAM else draw(unit),
        mode=mode,
        amsgrad=draw(st.booleans()),
        maximize=draw(st.booleans()),
    )
    p = draw(variants())
    theta, g = arr(True), arr(True)
    if draw(st.booleans()):  # a fresh state: zeros, passed as None
        return theta, g, None, None, None, 0, h, p
    t_prev = draw(st.one_of(st.integers(0, 20), st.integers(0, 10**9), st.just(10**9)))
    return theta, g, arr(True), arr(False), arr(False), t_prev, h, p


@given(cases())
def test_fast_step_agrees_with_exact_reference(case):
    _assert_agrees(*case)


def test_fallback_triggers_and_agrees():
    """Elements outside the pair-safe range, non-finite ones and 0/0 go through mpmath."""
    theta = np.array([1.0, 2.0, 0.5, 1.0, 1.0, 3.0, -1.0])
    g = np.array([1e200, 1e-200, 1e150, np.nan, np.inf, 0.0, 0.25])
    m = np.array([0.1, 0.0, 0.0, 0.0, 0.0, 0.5, 0.1])
    v = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1])
    h = Hyper(lr=0.1, eps=0.0, weight_decay=0.1)
    for p in (Variant(), Variant(eps_placement="inside", decay_order="after")):
        got = _assert_agrees(theta, g, m, v, None, 4, h, p)
        assert got.fallback == 6  # all but the last; element 5 divides 0.5/0 (θ_t = −inf)
    assert np.isinf(got.v.hi[0]) and np.isneginf(got.theta.hi[5]) and np.isnan(got.theta.hi[3])


# 1 − β1: one double (0.9), or a pair whose low part has 15 bits (1e-5)
@pytest.mark.parametrize("beta1", [0.9, 1e-5])
@pytest.mark.parametrize("mode", ["adam", "adam_l2"])
def test_cancelling_moments_stay_accurate_relative_to_themselves(beta1, mode):
    """m_t = β1·m + (1 − β1)·g summed from exact products: right to ~2^-100 of m_t itself.

    The θ scale counts |α·u| and u is proportional to m_t, so m_t must not carry an
    error relative to its terms' size when they cancel.
    """
    h = Hyper(lr=1.0, beta1=beta1, eps=0.0, mode=mode, weight_decay=0.375 if mode != "adam" else 0)
    g = np.random.default_rng(11).standard_normal(4)
    m = -(1 - beta1) / beta1 * g + np.array([0.0, 2.0**-40, 2.0**-30, 0.0])
    if mode == "adam_l2":
        m = m - (1 - beta1) / beta1 * 0.375 * np.ones(4)
    got = fast_step(np.ones(4), g, m, np.ones(4), 5, h)
    want = exact.step(State.from_floats(np.ones(4), m, np.ones(4), 5), g, h)
    with mpmath.workprec(320):
        for i in range(4):
            w = want.m[i]
            err = abs(mpmath.mpf(float(got.m.hi[i])) + mpmath.mpf(float(got.m.lo[i])) - w)
            assert abs(w) < 2.0**-25 * (1 - beta1) * abs(g[i])  # the terms did cancel
            assert err <= mpmath.mpf(2) ** -95 * abs(w), (i, w, err)
    assert got.fallback == 0


def test_many_elements_in_many_slices(monkeypatch):
    """A larger array cut into many slices, with untrusted elements in several of them."""
    monkeypatch.setattr(fast_module, "_CHUNK", 37)
    rng = np.random.default_rng(7)
    n = 300
    theta = rng.standard_normal(n).astype(np.float32)
    g = (rng.standard_normal(n) * 10.0 ** rng.integers(-8, 4, n)).astype(np.float32)
    m = (rng.standard_normal(n) * 1e-2).astype(np.float32)
    v = (rng.random(n) * 1e-3).astype(np.float32)
    g[[5, 100, 299]] = [np.nan, np.inf, -np.inf]
    h = Hyper(lr=1e-3, weight_decay=1e-2, amsgrad=True)
    got = _assert_agrees(theta, g, m, v, v * 2, 1000, h, Variant())
    assert got.fallback == 3
    assert got.theta.shape == (n,)


def test_no_gradient_leaves_the_state_and_count_alone():
    theta = np.array([[1.0, 2.0]], dtype=np.float32)
    out = fast_step(theta, None, None, None, 0, Hyper(amsgrad=True))
    assert out.t == 0 and out.fallback == 0
    assert np.array_equal(out.theta.hi, theta.astype(np.float64)) and not out.theta.lo.any()
    assert not out.m.hi.any() and not out.vmax.hi.any() and out.m.hi.shape == (1, 2)


def test_error_vs_and_to_float64():
    exact_value = DD(np.array([1.0, 0.0]), np.array([2.0**-60, 0.0]))
    assert np.array_equal(exact_value.to_float64(), [1.0, 0.0])
    err = error_vs(np.array([1.0, 2.0**-1074], dtype=np.float64), exact_value)
    assert err[0] == -(2.0**-60) and err[1] == 2.0**-1074
    assert error_vs(np.array([1.0], dtype=np.float32), DD(np.array([1.0]), np.zeros(1)))[0] == 0


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="shape"):
        fast_step(np.ones(2), np.ones(3), None, None, 0, Hyper())
    with pytest.raises(ValueError, match="non-negative"):
        fast_step(np.ones(2), np.ones(2), None, None, -1, Hyper())
    with pytest.raises(ValueError, match="unsupported dtype"):
        fast_step(np.ones(2, dtype=np.int64), np.ones(2), None, None, 0, Hyper())
