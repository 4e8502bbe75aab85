"""Golden values from the seed documents, reproduced by the exact reference.

Each literal below is a digit string the reference must keep producing; the seed
004 step is also recomputed independently with Python's decimal module.
"""

from decimal import Decimal, getcontext, localcontext

import mpmath
import numpy as np
import pytest

from adamspec.reference import Hyper, State, checked_step, round_to, step


def _drill_factor(mode: str, v_state: float, t_before: int, dtype) -> mpmath.mpf:
    """The seed drill's mechanism demo: θ = 1, m = 0, g = 0, lr = wd = 0.1, counter preset."""
    h = Hyper(lr=0.1, weight_decay=0.1, mode=mode)
    one = np.ones(1, dtype)
    s = State.from_floats(one, np.zeros(1, dtype), np.array([v_state], dtype), t=t_before)
    after = step(s, np.zeros(1, dtype), h)
    return after.theta[0]  # θ_before = 1, so this is the effective decay factor


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_drill_l2_factor_at_v1(dtype):
    # The drill presets t = 1000 and then steps, so the step runs at t = 1001 (STATE-1, AD-1).
    assert f"{float(_drill_factor('adam_l2', 1.0, 1000, dtype)):.6f}" == "0.999204"


def test_drill_l2_factor_at_small_v_needs_float32_rounding():
    """0.924127 is the float32-stored result; the exact value is 0.92412648…

    With v = float32(1e-4) the exact factor at t = 1001 is 0.924126480592…, which
    prints as 0.924126. The drill ran in float32: rounding the exact value to float32
    gives 0.924126506…, which prints as 0.924127 — the drill's digits are the
    correctly rounded float32 result, not the exact one.
    """
    exact = _drill_factor("adam_l2", 1e-4, 1000, np.float32)
    assert mpmath.nstr(exact, 12) == "0.924126480592"
    assert f"{float(exact):.6f}" == "0.924126"
    assert f"{float(round_to(exact, 'float32')):.6f}" == "0.924127"
    # At t = 1000 (no preset-then-step) the factor would have been 0.924149.
    assert f"{float(_drill_factor('adam_l2', 1e-4, 999, np.float32)):.6f}" == "0.924149"


@pytest.mark.parametrize("v_state", [1.0, 1e-4])
def test_drill_adamw_factor_is_exactly_one_minus_lr_wd(v_state):
    factor = _drill_factor("adamw", v_state, 1000, np.float64)
    with mpmath.workprec(256):  # the 106-bit product of two binary64 values is exact here
        assert factor == 1 - mpmath.mpf(0.1) * mpmath.mpf(0.1)  # binary64 lr and wd
    assert f"{float(factor):.6f}" == "0.990000"


SEED_004 = dict(theta=0.024634, g=-0.352893, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, wd=0.01)
SEED_004_THETA_50 = "0.025633753631662799109658881450529670537732800538004"
SEED_004_M_50 = "-0.035289299999999993387045371662224807963948282478213"
SEED_004_V_50 = "0.00012453346944900011923860218931992775905760497269377"


def _seed_004_reference() -> State:
    c = SEED_004
    h = Hyper(lr=c["lr"], beta1=c["beta1"], beta2=c["beta2"], eps=c["eps"],
              weight_decay=c["wd"], mode="adamw")
    return checked_step(State.fresh(np.array([c["theta"]])), np.array([c["g"]]), h, digits=50)


def _seed_004_decimal() -> dict[str, Decimal]:
    """The same step in Python's decimal at 80 digits: every operation, √ included, is
    correctly rounded there, and Decimal(float) reads each binary64 input exactly."""
    c = {k: Decimal(v) for k, v in SEED_004.items()}
    with localcontext() as ctx:
        ctx.prec = 80
        one = Decimal(1)
        bc1, bc2 = one - c["beta1"], one - c["beta2"]  # t = 1
        m = (one - c["beta1"]) * c["g"]
        v = (one - c["beta2"]) * c["g"] * c["g"]
        theta = c["theta"] * (one - c["lr"] * c["wd"])
        theta = theta - c["lr"] * (m / bc1) / ((v / bc2).sqrt() + c["eps"])
    return {"theta": theta, "m": m, "v": v}


def _fifty(x) -> str:
    return mpmath.nstr(x, 50, min_fixed=-30, max_fixed=30)


def test_seed_004_single_adamw_step_to_50_digits():
    s = _seed_004_reference()
    assert s.t == 1
    assert _fifty(s.theta[0]) == SEED_004_THETA_50
    assert _fifty(s.m[0]) == SEED_004_M_50
    assert _fifty(s.v[0]) == SEED_004_V_50


def test_seed_004_digits_agree_with_decimal():
    ref, dec = _seed_004_reference(), _seed_004_decimal()
    getcontext().prec = 80
    for name in ("theta", "m", "v"):
        r = Decimal(mpmath.nstr(getattr(ref, name)[0], 70))
        rel = abs(r - dec[name]) / abs(dec[name])
        assert rel < Decimal("1e-60"), (name, rel)


def test_seed_004_float64_result_is_the_rounded_exact_value():
    # The seed computed ~0.025634 by hand; the binary64 rounding of the exact value:
    assert float(round_to(_seed_004_reference().theta[0], "float64")) == 0.0256337536316628
