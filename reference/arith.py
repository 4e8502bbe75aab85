"""Arithmetic the step's pieces share: IEEE answers from mpmath, and the error of a root.

The exact pieces (``steps`` and each ``knobs/<knob>.py``) compute in mpmath, which raises or
goes complex where IEEE gives NaN or ±inf; the helpers here give IEEE's answers (SPEC NF-1).
``sqrt_error`` is the bound's (``bound``, and the ε placements' terms) error of a square root.
A leaf module: the knob modules import it, and the modules that read them import the knobs.
"""

from __future__ import annotations

import mpmath
import numpy as np


def nan_max(a: mpmath.mpf, b: mpmath.mpf) -> mpmath.mpf:
    """max that propagates NaN, as IEEE maximum and torch.maximum do (SPEC NF-1)."""
    if mpmath.isnan(a) or mpmath.isnan(b):
        return mpmath.nan
    return a if a >= b else b


def ieee_sqrt(x: mpmath.mpf) -> mpmath.mpf:
    """√x with IEEE's NaN for x < 0 (mpmath would return a complex number)."""
    if mpmath.isnan(x) or x < 0:
        return mpmath.nan
    return mpmath.sqrt(x)


def ieee_div(a: mpmath.mpf, b: mpmath.mpf) -> mpmath.mpf:
    """a / b with IEEE's answers for a zero divisor (mpmath raises instead).

    Every divisor in the step is positive or +0 (a root plus ε ≥ 0, or 1 − β^t), so a
    zero divisor is +0: 0/0 and NaN/0 give NaN, x/+0 gives ±inf with the sign of x.
    """
    if b == 0:
        if a == 0 or mpmath.isnan(a):
            return mpmath.nan
        return mpmath.inf if a > 0 else -mpmath.inf
    return a / b


def sqrt_error(x, ex, extra_rel):
    """Error of √x given |Δx| ≤ ex: min(Δx/(2√x), √Δx), plus extra relative roundings.

    The first form is the usual derivative bound; the second, |√(x+d) − √x| ≤ √|d|,
    keeps it finite as x → 0 (v = 0 with a perturbed zero).
    """
    r = np.sqrt(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        deriv = np.where(x > 0, ex / (2 * r), np.inf)
    return np.minimum(deriv, np.sqrt(ex)) + extra_rel * r
