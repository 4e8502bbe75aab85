"""VAR-5 — bias correction: m̂ = m/(1 − β₁^t), v̂ = v/(1 − β₂^t) (AD-4, canonical), none, or m only.

true: (bc1, bc2) = (1 − β₁^t, 1 − β₂^t)   false: (1, 1)   m: (1 − β₁^t, 1)
"""

from __future__ import annotations

import mpmath

from adamspec.reference.knobs.base import Knob

KNOB = Knob((True, False, "m"), True, "VAR-5", "m̂, v̂ corrected by 1 − β^t (AD-4), not at all, or m only")
PARAMETERS = {}

ONE = mpmath.mpf(1)


# EXACT: (t, h) -> (bc1, bc2) in mpmath, β^t the exact power at the integer t (mpmath's integer
# power is exact to working precision for any t: binary powering).
def _exact_both(t, h):
    return ONE - mpmath.mpf(h.beta1) ** t, ONE - mpmath.mpf(h.beta2) ** t


def _exact_m(t, h):
    return ONE - mpmath.mpf(h.beta1) ** t, ONE


EXACT = {True: _exact_both, False: lambda t, h: (ONE, ONE), "m": _exact_m}


# BOUND: (bc1, bc2, rel_bc1, rel_bc2), the corrections in binary64 and their relative errors,
# from β₁, β₂, t, rho_pow (the relative error of β^t: t·ρ for β held with relative error ρ, plus
# the power's own roundings) and rho_der (a derived scalar's roundings and its cast).
# 1 − β^t amplifies β^t's absolute error by β^t/(1 − β^t) (large at small t with β near 1), and
# only the result is cast to the compute precision.
def _bound_both(b1, b2, t, rho_pow, rho_der):
    p1, p2 = b1**t, b2**t
    bc1, bc2 = 1.0 - p1, 1.0 - p2
    return bc1, bc2, p1 * rho_pow / bc1 + rho_der, p2 * rho_pow / bc2 + rho_der


def _bound_m(b1, b2, t, rho_pow, rho_der):
    p1, p2 = b1**t, 0.0  # v̂ = v: bc2 = 1, exact
    bc1, bc2 = 1.0 - p1, 1.0 - p2
    return bc1, bc2, p1 * rho_pow / bc1 + rho_der, p2 * rho_pow / bc2 + 0.0


BOUND = {True: _bound_both, False: lambda b1, b2, t, rho_pow, rho_der: (1.0, 1.0, 0.0, 0.0), "m": _bound_m}

# NUMPY: (bc1, bc2) in binary64, as a Python host computes them.
NUMPY = {
    True: lambda h, t: (1 - h.beta1**t, 1 - h.beta2**t),
    False: lambda h, t: (1.0, 1.0),
    "m": lambda h, t: (1 - h.beta1**t, 1.0),  # m̂ = m/(1 − β1^t), v̂ = v
}
