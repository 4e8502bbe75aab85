"""Closed forms the exact reference must satisfy, over hypothesis-drawn inputs.

Each comparison is either exact (the mpmath operations involved are exact) or within
the reference's own working-precision error, stated next to it.
"""

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from adamspec.reference import CANONICAL, KNOBS, Hyper, State, Variant, step, to_mpf, trajectory

PREC = 256
finite64 = st.floats(min_value=-1e30, max_value=1e30, allow_nan=False, allow_subnormal=False)
positive = st.floats(min_value=1e-30, max_value=1e30)
lrs = st.floats(min_value=0.0, max_value=10.0)
betas = st.floats(min_value=0.0, max_value=0.999999)
epss = st.floats(min_value=0.0, max_value=1.0)
wds = st.floats(min_value=0.0, max_value=5.0)


@given(theta=finite64, g=finite64, lr=lrs, b1=betas, b2=betas, eps=epss)
def test_first_step_from_zero_state(theta, g, lr, b1, b2, eps):
    """AD-7: Δθ = −α·g/(|g| + ε) exactly, so |Δθ| ≤ α."""
    assume(g != 0 or eps > 0)
    h = Hyper(lr=lr, beta1=b1, beta2=b2, eps=eps, mode="adam")
    s = step(State.fresh(np.array([theta])), np.array([g]), h, precision=PREC)
    with mpmath.workprec(PREC):
        a, gg, th = to_mpf(lr), to_mpf(g), to_mpf(theta)
        expected = -a * gg / (abs(gg) + to_mpf(eps))
        delta = s.theta[0] - th
        # m̂ = g and √v̂ = |g| hold exactly in real arithmetic; each of the ~12 mpmath
        # operations adds a relative error ≤ 2^-PREC of its operand, so the difference is
        # within 2^-(PREC-8) of the magnitudes involved (θ and the step).
        slack = mpmath.ldexp(abs(th) + a, -(PREC - 8))
        assert abs(delta - expected) <= slack
        assert abs(delta) <= a + slack


@given(theta=finite64, g=finite64, m=finite64, v=positive, t=st.integers(0, 10**7),
       lr=lrs, b1=betas, b2=betas, eps=epss, amsgrad=st.booleans(), maximize=st.booleans())
def test_modes_coincide_at_zero_weight_decay(theta, g, m, v, t, lr, b1, b2, eps, amsgrad, maximize):
    """AD-13: with λ = 0 the three modes give identical exact results (bitwise equal mpf)."""
    state = State.from_floats(np.array([theta]), np.array([m]), np.array([v]), t,
                              vmax=np.array([v]) if amsgrad else None)
    results = []
    for mode in ("adam", "adam_l2", "adamw"):
        h = Hyper(lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=0.0, mode=mode,
                  amsgrad=amsgrad, maximize=maximize)
        results.append(step(state, np.array([g]), h, precision=PREC))
    def same(x, y):  # identical mpf values, NaN matching NaN
        return x == y or (mpmath.isnan(x) and mpmath.isnan(y))

    for other in results[1:]:
        for name in ("theta", "m", "v", "vmax"):
            a, b = getattr(results[0], name), getattr(other, name)
            assert (a is None and b is None) or all(map(same, a, b))


@given(theta=finite64, v=st.floats(min_value=0.0, max_value=1e30), t=st.integers(0, 10**7),
       lr=st.floats(0.0, 1.0), wd=st.floats(0.0, 1.0), b1=betas, b2=betas,
       eps=st.floats(min_value=1e-30, max_value=1.0))
def test_adamw_uniform_decay(theta, v, t, lr, wd, b1, b2, eps):
    """AW-3: with g = 0 and m = 0, θ_t = (1 − α·λ)·θ_{t−1} for any v and t (exactly).

    The update term is 0/(√v̂ + ε) = 0 exactly, so only the rounding of the product
    θ·(1 − αλ) at the working precision separates the two.
    """
    h = Hyper(lr=lr, weight_decay=wd, beta1=b1, beta2=b2, eps=eps, mode="adamw")
    state = State.from_floats(np.array([theta]), np.zeros(1), np.array([v]), t)
    s = step(state, np.zeros(1), h, precision=PREC)
    with mpmath.workprec(PREC):
        assert s.theta[0] == to_mpf(theta) * (1 - to_mpf(lr) * to_mpf(wd))
    assert s.m[0] == 0


def test_adamw_uniform_decay_needs_a_positive_denominator():
    """AW-3's premise: with v = 0 and ε = 0 the update is 0/0 and IEEE gives NaN (NF-1)."""
    h = Hyper(lr=0.1, weight_decay=0.1, eps=0.0, mode="adamw")
    s = step(State.fresh(np.array([1.0])), np.zeros(1), h)
    assert mpmath.isnan(s.theta[0])


@given(v=st.floats(min_value=1e-12, max_value=1e6), t=st.integers(1, 10**6))
def test_l2_decay_is_coupled_to_v(v, t):
    """L2-3: with g = 0, m = 0 the L2 factor follows the closed form and larger v decays less."""
    h = Hyper(lr=0.1, weight_decay=0.1, mode="adam_l2")

    def factor(v_state):
        s = State.from_floats(np.ones(1), np.zeros(1), np.array([v_state]), t - 1)
        return step(s, np.zeros(1), h, precision=PREC).theta[0]

    with mpmath.workprec(PREC):
        a, lam, b1, b2, eps = (to_mpf(x) for x in (h.lr, h.weight_decay, h.beta1, h.beta2, h.eps))
        m_t = (1 - b1) * lam
        v_t = b2 * to_mpf(v) + (1 - b2) * lam**2
        closed = 1 - a * (m_t / (1 - b1**t)) / (mpmath.sqrt(v_t / (1 - b2**t)) + eps)
        assert abs(factor(v) - closed) <= mpmath.ldexp(1, -(PREC - 8))
        assert factor(4 * v) > factor(v)  # larger v, less decay
        assert factor(v) != 1 - a * lam  # not the AdamW factor


def test_absent_gradient_is_not_a_step():
    """NOGRAD-1/2: no gradient, no change (the state object comes back as it was)."""
    s = State.fresh(np.array([1.0, 2.0]))
    assert step(s, None, Hyper(weight_decay=0.1)) is s


def test_zero_gradient_is_a_step():
    """NOGRAD-3: a zero gradient advances t and decays θ."""
    s = step(State.fresh(np.array([1.0])), np.zeros(1), Hyper(lr=0.1, weight_decay=0.1))
    assert s.t == 1 and s.theta[0] < 1


def test_maximize_negates_before_l2():
    """MAX-1: maximize with g equals minimize with −g, the L2 term added after the negation."""
    base = dict(lr=0.01, weight_decay=0.5, mode="adam_l2")
    s0 = State.fresh(np.array([3.0]))
    up = step(s0, np.array([0.25]), Hyper(maximize=True, **base))
    down = step(s0, np.array([-0.25]), Hyper(**base))
    assert up.theta[0] == down.theta[0] and up.m[0] == down.m[0]


def test_amsgrad_keeps_the_maximum_of_raw_v():
    """AMS-1/AMS-2 and VAR-6: vmax is max over raw v; the v̂ variant differs."""
    h = Hyper(lr=0.01, amsgrad=True, mode="adam")
    states = trajectory(State.fresh(np.array([1.0]), amsgrad=True), [np.array([2.0]), np.array([0.0])], h)
    assert states[1].vmax[0] == states[0].v[0] > states[1].v[0]
    variant = trajectory(State.fresh(np.array([1.0]), amsgrad=True),
                         [np.array([2.0]), np.array([0.0])], h, Variant(amsgrad_over="vhat"))
    assert variant[1].theta[0] != states[1].theta[0]


def _departing_variants():
    """One variant per non-canonical value of each knob of the table (η = 0.5 for "scheduled")."""
    out = []
    for name, knob in KNOBS.items():
        for value in knob.values:
            if value != knob.canonical:
                eta = {("decay_scale", "scheduled"): {"schedule_multiplier": 0.5},
                       ("eps_placement", "root"): {"eps_root": 1e-4}}.get((name, value), {})
                out.append(Variant(**{name: value}, **eta))
    return out


@pytest.mark.parametrize(
    "variant", _departing_variants(),
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.departures().items()),
)
def test_every_variant_differs_from_canonical_somewhere(variant):
    """VAR-2..6: each knob value changes the result on an ordinary AdamW step with AMSGrad (no
    knob value is a no-op)."""
    h = Hyper(lr=0.1, weight_decay=0.1, eps=1e-3, mode="adamw", amsgrad=True)
    s = State.from_floats(np.array([1.5]), np.array([0.1]), np.array([1e-6]), t=2, vmax=np.array([2e-6]))
    g = np.array([0.01])
    assert step(s, g, h, variant).theta[0] != step(s, g, h, CANONICAL).theta[0]


def test_variant_departures_name_the_changed_knobs():
    assert CANONICAL.departures() == {}
    assert Variant(eps_placement="hat").departures() == {"eps_placement": "hat"}
    with pytest.raises(ValueError, match="eps_placement"):
        Variant(eps_placement="sideways")
