"""VAR-4 — placement of ε in the normalised update u (AD-5).

outside: m̂/(√v̂ + ε) (canonical)   hat: (√(1 − β₂^t)/(1 − β₁^t))·m/(√v + ε)   inside: m̂/√(v̂ + ε)
floor: m̂/max(√v̂, ε)   root: m̂/(√(v̂ + ε_root) + ε)   (v̂ from v_max,t under AMSGrad)
"""

from __future__ import annotations

import mpmath
import numpy as np

from adamspec.reference.arith import ieee_div, ieee_sqrt, nan_max, sqrt_error
from adamspec.reference.knobs.base import Knob, Parameter

KNOB = Knob(("outside", "hat", "inside", "floor", "root"), "outside", "VAR-4",
            "u = m̂/(√v̂ + ε) (AD-5), ε added to the uncorrected root, √(v̂ + ε), max(√v̂, ε), "
            "or √(v̂ + ε_root) + ε")
PARAMETERS = {
    "eps_root": Parameter("root", 0.0, False, "ε_root for 'root', u = m̂/(√(v̂ + ε_root) + ε)"),
}


# EXACT: u in mpmath from m_t, v̂ (= v_denom/bc2, or v_denom itself when ``corrected``: a
# v̂-maximum, VAR-6), the denominator's v, and the bias corrections bc1, bc2.
def _exact_outside(m, vhat, v_denom, corrected, bc1, bc2, h, p):
    return ieee_div(m / bc1, ieee_sqrt(vhat) + mpmath.mpf(h.eps))


def _exact_hat(m, vhat, v_denom, corrected, bc1, bc2, h, p):
    # α·√bc2/bc1 · m/(√v + ε): ε is added to the uncorrected root
    v_raw = vhat * bc2 if corrected else v_denom  # no needless round trip
    return (mpmath.sqrt(bc2) / bc1) * ieee_div(m, ieee_sqrt(v_raw) + mpmath.mpf(h.eps))


def _exact_inside(m, vhat, v_denom, corrected, bc1, bc2, h, p):
    return ieee_div(m / bc1, ieee_sqrt(vhat + mpmath.mpf(h.eps)))


def _exact_floor(m, vhat, v_denom, corrected, bc1, bc2, h, p):
    # ε as a floor on the root, max(√v̂, ε); NaN stays NaN
    return ieee_div(m / bc1, nan_max(ieee_sqrt(vhat), mpmath.mpf(h.eps)))


def _exact_root(m, vhat, v_denom, corrected, bc1, bc2, h, p):
    # optax's eps_root inside the root, ε outside it
    return ieee_div(m / bc1, ieee_sqrt(vhat + mpmath.mpf(p.eps_root)) + mpmath.mpf(h.eps))


EXACT = {"outside": _exact_outside, "hat": _exact_hat, "inside": _exact_inside, "floor": _exact_floor,
         "root": _exact_root}


# BOUND: (den, e_den, num, e_num), the denominator and numerator of u and their absolute errors,
# from the terms of ``reference.bound``: c.vhat, c.e_vhat (v̂), c.vd, c.e_vd (the v or maximum
# it came from; c.vd_corrected for a v̂-maximum), c.mhat, c.e_mhat (m̂), c.m1, c.e_m (m_t), c.bc1,
# c.bc2, c.rel_bc1, c.rel_bc2 (the corrections and their relative errors), c.eps, c.d_eps (ε as
# held), c.u, c.rho_hold, c.rho_der, c.tiny_unit, and the variant c.p.
def _bound_outside(c):
    # √v̂ directly, or √v / √bc2: up to 3 roundings.
    den = np.sqrt(c.vhat) + c.eps
    e_den = sqrt_error(c.vhat, c.e_vhat, 3 * c.u) + c.d_eps + c.u * den
    return den, e_den, c.mhat, c.e_mhat


def _bound_inside(c):
    w = c.vhat + c.eps
    den = np.sqrt(w)
    e_den = sqrt_error(w, c.e_vhat + c.d_eps + 2 * c.u * w, c.u)
    return den, e_den, c.mhat, c.e_mhat


def _bound_root(c):
    # √(v̂ + ε_root) + ε: ε_root held like ε (e_root, as d_eps), one addition, the root,
    # then ε added as in the canonical form.
    eps_root = c.p.eps_root
    e_root = (c.rho_hold + c.rho_der) * eps_root + (c.tiny_unit / 8 if eps_root > 0 else 0.0)
    w = c.vhat + eps_root
    den = np.sqrt(w) + c.eps
    e_den = sqrt_error(w, c.e_vhat + e_root + c.u * w, 3 * c.u) + c.d_eps + c.u * den
    return den, e_den, c.mhat, c.e_mhat


def _bound_floor(c):
    # max(√v̂, ε) is 1-Lipschitz in each argument: its error is at most the larger of
    # the root's and ε's, and the selection itself rounds nothing.
    den = np.maximum(np.sqrt(c.vhat), c.eps)
    e_den = np.maximum(sqrt_error(c.vhat, c.e_vhat, 3 * c.u), c.d_eps)
    return den, e_den, c.mhat, c.e_mhat


def _bound_hat(c):
    # (√bc2/bc1)·m / (√v + ε)
    vraw = c.vhat * c.bc2
    e_vraw = c.e_vd if not c.vd_corrected else c.e_vhat * c.bc2 + vraw * c.rel_bc2
    den = np.sqrt(vraw) + c.eps
    e_den = sqrt_error(vraw, e_vraw, c.u) + c.d_eps + c.u * den
    scale = np.sqrt(c.bc2) / c.bc1
    num = scale * c.m1
    e_num = scale * c.e_m + np.abs(num) * (0.5 * c.rel_bc2 + c.rel_bc1 + c.rho_der + c.u)
    return den, e_den, num, e_num


BOUND = {"outside": _bound_outside, "hat": _bound_hat, "inside": _bound_inside, "floor": _bound_floor,
         "root": _bound_root}

# NUMPY: u in the arrays' dtype from m_t, v̂, the denominator's v ``vd`` (a v̂-maximum when
# ``corrected``), the binary64 corrections bc1, bc2, and ``s`` (a scalar as the kernel holds it).
NUMPY = {
    "outside": lambda m1, vhat, vd, corrected, bc1, bc2, h, p, s: (m1 / s(bc1)) / (np.sqrt(vhat) + s(h.eps)),
    "inside": lambda m1, vhat, vd, corrected, bc1, bc2, h, p, s: (m1 / s(bc1)) / np.sqrt(vhat + s(h.eps)),
    # optax: √(v̂ + ε_root) + ε
    "root": lambda m1, vhat, vd, corrected, bc1, bc2, h, p, s: (
        (m1 / s(bc1)) / (np.sqrt(vhat + s(p.eps_root)) + s(h.eps))),
    # the NaN-propagating maximum, as torch.maximum
    "floor": lambda m1, vhat, vd, corrected, bc1, bc2, h, p, s: (
        (m1 / s(bc1)) / np.maximum(np.sqrt(vhat), s(h.eps))),
    # over the raw v, the factor (√bc2/bc1) applied to m first (as TensorFlow's kernel does):
    # m/(√v + ε) alone may overflow where u does not, which NUM-7 does not count as leaving the model.
    "hat": lambda m1, vhat, vd, corrected, bc1, bc2, h, p, s: (
        (s(bc2**0.5 / bc1) * m1) / (np.sqrt(vd * s(bc2) if corrected else vd) + s(h.eps))),
}
