"""The canonical step as small pure functions of exact scalars, one per clause.

Composed the way optax composes optimizers (moments → bias correction → normalise →
decay → learning rate), so Adam+L2 and AdamW differ only in where the decay stands.
All arithmetic is mpmath at the caller's working precision; inputs are exact mpf.
"""

from __future__ import annotations

import mpmath

from adamspec.reference import knobs
from adamspec.reference.arith import ieee_div, ieee_sqrt, nan_max  # noqa: F401 - steps' names for them
from adamspec.reference.hyper import Hyper, Mode, Variant, check_handled, decay_scale_factor, step_size

ONE = mpmath.mpf(1)

# The knobs whose EXACT pieces (reference/knobs/<knob>.py) this module's functions call, and
# where. The values it implements are those pieces' (HANDLED), checked against
# reference.hyper.KNOBS below and at every exact.step call: a value without its piece, or a new
# knob module that no function here calls, is an ImportError naming this module.
CALLS = {
    "decay_order": "apply_update",
    "decay_scale": "decay_factor, learning_rate (hyper's decay_scale_factor and step_size)",
    "eps_placement": "normalised_update",
    "bias_correction": "bias_corrections",
    "amsgrad_over": "amsgrad_candidate, amsgrad_max",
}
HANDLED = {name: set(getattr(knobs.MODULES.get(name), "EXACT", {})) for name in CALLS}
check_handled(__name__, HANDLED)


def _exact(name: str, variant: Variant):
    """The EXACT piece of ``variant``'s value of knob ``name`` (reference/knobs/<name>.py)."""
    return knobs.piece("EXACT", name, getattr(variant, name), __name__)


def effective_gradient(g, theta, h: Hyper):
    """MAX-1 then L2-1: negate for maximize first, then add the coupled L2 term λ·θ_{t−1}."""
    if h.maximize:
        g = -g
    # AD-13: with λ = 0 the term is absent, not 0·θ (which is NaN for an infinite θ).
    if h.mode is Mode.ADAM_L2 and h.weight_decay != 0.0:
        g = g + mpmath.mpf(h.weight_decay) * theta
    return g


def first_moment(m, g, h: Hyper):
    """AD-2: m_t = β1·m + (1 − β1)·g."""
    b1 = mpmath.mpf(h.beta1)
    return b1 * m + (ONE - b1) * g


def second_moment(v, g, h: Hyper):
    """AD-3: v_t = β2·v + (1 − β2)·g²."""
    b2 = mpmath.mpf(h.beta2)
    return b2 * v + (ONE - b2) * g * g


def bias_corrections(t: int, h: Hyper, variant: Variant):
    """AD-4 / VAR-5: (1 − β1^t, 1 − β2^t) with β^t the exact power at the integer t, or the
    variant's (reference/knobs/bias_correction.py)."""
    return _exact("bias_correction", variant)(t, h)


def amsgrad_candidate(v, bc2, variant: Variant):
    """AMS-1 / VAR-6: what the running maximum takes in, and whether it is corrected already
    (then the maximum is v̂: reference/knobs/amsgrad_over.py)."""
    return _exact("amsgrad_over", variant)(v, bc2)


def amsgrad_max(vmax, v, bc2, variant: Variant):
    """AMS-1 / VAR-6: the running maximum, over raw v (canonical) or over v̂ (variant)."""
    return nan_max(vmax, amsgrad_candidate(v, bc2, variant)[0])


def normalised_update(m, v_denom, bc1, bc2, h: Hyper, variant: Variant, denom_is_corrected=False):
    """AD-5 / VAR-4: u = m̂ / (√v̂ + ε), or the variant's placement of ε
    (reference/knobs/eps_placement.py).

    ``denom_is_corrected`` marks a v̂-maximum (VAR-6 variant) that needs no further 1/bc2.
    """
    vhat = v_denom if denom_is_corrected else v_denom / bc2  # bc2 > 0 always
    return _exact("eps_placement", variant)(m, vhat, v_denom, denom_is_corrected, bc1, bc2, h, variant)


def decay_factor(h: Hyper, variant: Variant):
    """AW-4 / VAR-3: the decoupled factor 1 − α·λ (or 1 − λ, or 1 − η·λ); 1 outside adamw."""
    if h.mode is not Mode.ADAMW:
        return ONE
    return ONE - decay_scale_factor(h, variant, mpmath.mpf) * mpmath.mpf(h.weight_decay)


def learning_rate(h: Hyper, variant: Variant):
    """AD-6: α (times the schedule multiplier η under VAR-3 "scheduled")."""
    return step_size(h, variant, mpmath.mpf)


def apply_update(theta, u, h: Hyper, variant: Variant):
    """AW-1 / AD-6 / VAR-2: θ_t = θ(1 − αλ) − α·u (canonical) or (θ − α·u)(1 − αλ) (after)."""
    return _exact("decay_order", variant)(theta, u, decay_factor(h, variant), learning_rate(h, variant))
