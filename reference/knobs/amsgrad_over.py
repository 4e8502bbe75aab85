"""VAR-6 — the quantity AMSGrad maximises: the raw v (AMS-1, canonical) or v̂ = v/(1 − β₂^t).

v: v_max,t = max(v_max,t−1, v_t)      vhat: v̂_max,t = max(v̂_max,t−1, v_t/(1 − β₂^t)), stored corrected
"""

from __future__ import annotations

from adamspec.reference.knobs.base import Knob

KNOB = Knob(("v", "vhat"), "v", "VAR-6", "the AMSGrad maximum over the raw v (AMS-1) or over v̂")
PARAMETERS = {}

# Each piece returns the maximum's candidate and whether it is already corrected (then the
# maximum is v̂ and the denominator takes no further 1/bc2).

# EXACT: (v_t, bc2) -> (candidate, corrected), mpmath.
EXACT = {
    "v": lambda v, bc2: (v, False),
    "vhat": lambda v, bc2: (v / bc2, True),
}

# BOUND: (v_t, its error e_v, bc2, rel_bc2, u) -> (candidate, its error, corrected), binary64:
# v/bc2 carries bc2's relative error and one rounding.
BOUND = {
    "v": lambda v1, e_v, bc2, rel_bc2, u: (v1, e_v, False),
    "vhat": lambda v1, e_v, bc2, rel_bc2, u: (v1 / bc2, (e_v + v1 * rel_bc2) / bc2 + u * (v1 / bc2), True),
}

# NUMPY: (v_t, bc2 as the kernel holds it) -> (candidate, corrected) in the arrays' dtype.
NUMPY = {
    "v": lambda v1, bc2: (v1, False),
    "vhat": lambda v1, bc2: (v1 / bc2, True),
}
