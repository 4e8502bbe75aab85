"""VAR-2 — decay order: the decoupled decay before the update (AW-1, canonical) or after it.

before: θ_t = θ·d − α·u        after: θ_t = (θ − α·u)·d        (d = 1 − scale·λ, VAR-3)
"""

from __future__ import annotations

import numpy as np

from adamspec.reference.knobs.base import Knob

KNOB = Knob(("before", "after"), "before", "VAR-2", "decoupled decay before the update (AW-1) or after it")
PARAMETERS = {}

# EXACT: (θ, u, d, α) -> θ_t, mpmath. d is 1 outside adamw.
EXACT = {
    "before": lambda theta, u, d, lr: theta * d - lr * u,
    "after": lambda theta, u, d, lr: (theta - lr * u) * d,
}


# BOUND: the error of θ_t (before the final storage rounding) from the terms of ``reference.bound``:
# c.th, c.ath = |θ|, c.step_term = α·u, c.astep = |α·u|, c.e_step its error, c.d and c.d_d the
# decay factor and its error, c.n_round the roundings of θ·d − α·u, c.u the unit roundoff,
# c.tiny the underflow floor where θ or α·u is nonzero.
def _bound_before(c):
    return c.ath * c.d_d + c.n_round * c.u * (c.ath + c.astep) + c.e_step + c.tiny


def _bound_after(c):
    # θ − α·u rounds once and carries e_step, then the product by d (off by d_d) rounds once
    inner = np.abs(c.th - c.step_term)
    return (inner * c.d_d + (c.u * (c.ath + c.astep) + c.e_step) * abs(c.d)
            + c.u * np.abs((c.th - c.step_term) * c.d) + c.tiny)


BOUND = {"before": _bound_before, "after": _bound_after}


# NUMPY: (θ, α·u, d) -> θ_t in the arrays' dtype; d is None outside adamw (no decay at all).
def _numpy_before(th, step, d):
    if d is not None:
        th = th * d
    return th - step


def _numpy_after(th, step, d):
    th1 = th - step
    return th1 if d is None else th1 * d


NUMPY = {"before": _numpy_before, "after": _numpy_after}
