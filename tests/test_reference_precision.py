"""The reference certifies its own digits (SPEC NUM-1) and handles IEEE special values."""

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adamspec.reference import (
    BFLOAT16,
    Hyper,
    PrecisionError,
    State,
    checked_step,
    round_to,
    step,
    to_mpf,
    ulp,
)
from adamspec.reference.exact import max_relative_disagreement


@given(theta=st.floats(-1e20, 1e20), g=st.floats(-1e20, 1e20), m=st.floats(-1e20, 1e20),
       v=st.floats(0, 1e30), t=st.integers(0, 10**9), b1=st.floats(0, 0.9999999),
       b2=st.floats(0, 0.9999999), lr=st.floats(0, 1), wd=st.floats(0, 1),
       mode=st.sampled_from(["adam_l2", "adamw"]))
def test_doubling_the_precision_changes_no_reported_digit(theta, g, m, v, t, b1, b2, lr, wd, mode):
    h = Hyper(lr=lr, beta1=b1, beta2=b2, eps=1e-8, weight_decay=wd, mode=mode)
    state = State.from_floats(np.array([theta]), np.array([m]), np.array([v]), t)
    checked_step(state, np.array([g]), h, precision=200, digits=50)  # raises if not certified


def test_self_check_refuses_too_little_precision():
    """Cancellation that eats the working precision is caught, never reported as digits.

    First step, θ = 1, g = 1, ε = 1e-30: θ_t = 1 − 1/(1 + 1e-30) ≈ 1e-30. At 64 bits the
    quotient rounds to 1 and θ_t comes out 0; doubling the precision exposes it.
    """
    h = Hyper(lr=1.0, eps=1e-30, mode="adam")
    state = State.fresh(np.array([1.0]))
    with pytest.raises(PrecisionError, match="not certified"):
        checked_step(state, np.array([1.0]), h, precision=64, digits=10)
    # The result's relative accuracy is the working precision minus the ~100 bits the
    # cancellation costs, so 50 certified digits need more than 256 bits: 512 suffice.
    with pytest.raises(PrecisionError):
        checked_step(state, np.array([1.0]), h, precision=256, digits=50)
    exact = checked_step(state, np.array([1.0]), h, precision=512, digits=50)
    assert abs(exact.theta[0] - to_mpf(1e-30)) < mpmath.mpf("1e-59")
    with pytest.raises(ValueError, match="need at least"):
        checked_step(state, np.array([1.0]), h, precision=64, digits=50)


def test_disagreement_measure():
    a = State.fresh(np.array([1.0, 2.0]))
    assert max_relative_disagreement(a, a) == 0


@pytest.mark.parametrize("g", [np.nan, np.inf, -np.inf])
def test_non_finite_gradient_propagates(g):
    """NF-1: NaN/inf gradients give NaN parameters (inf/inf), never a masked step."""
    s = step(State.fresh(np.array([1.0, 1.0])), np.array([g, 1.0]), Hyper(lr=0.1))
    assert mpmath.isnan(s.theta[0])
    assert mpmath.isfinite(s.theta[1])  # NF-3: only its own element


def test_negative_injected_v_gives_nan_not_complex():
    s = State.from_floats(np.array([1.0]), np.zeros(1), np.array([-1.0]), 3)
    out = step(s, np.zeros(1), Hyper(lr=0.1, beta2=0.5))
    assert mpmath.isnan(out.theta[0])


def test_rounding_agrees_with_numpy_casts():
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.standard_normal(500) * 10.0 ** rng.integers(-45, 39, 500),
                         [1e-45, 7.006492321624085e-46, 3.4028235e38, 3.5e38, 65504.0, 65520.0]])
    for dtype in (np.float32, np.float16, BFLOAT16.dtype):
        with np.errstate(over="ignore"):
            cast = xs.astype(dtype)
        for x, c in zip(xs, cast):
            assert float(round_to(to_mpf(x), np.dtype(dtype))) == float(c), (x, dtype)


def test_ulp_of_one():
    assert ulp(mpmath.mpf(1), "float32") == mpmath.mpf(2) ** -23
    assert ulp(mpmath.mpf(1), "bf16") == mpmath.mpf(2) ** -7
    assert ulp(mpmath.mpf(0), "float16") == mpmath.mpf(2) ** -24
