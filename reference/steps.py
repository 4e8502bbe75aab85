"""The canonical step as small pure functions of exact scalars, one per clause.

Composed the way optax composes optimizers (moments → bias correction → normalise →
decay → learning rate), so Adam+L2 and AdamW differ only in where the decay stands.
All arithmetic is mpmath at the caller's working precision; inputs are exact mpf.
"""

from __future__ import annotations

import mpmath

from adamspec.reference.hyper import Hyper, Mode, Variant, check_handled, decay_scale_factor, step_size

ONE = mpmath.mpf(1)

# The variant knob values this module's functions implement (checked against
# reference.hyper.KNOBS below, and at every exact.step call).
HANDLED = {
    "decay_order": {"before", "after"},  # apply_update
    "decay_scale": {"lr", "independent", "scheduled", "corrected"},  # decay_factor, learning_rate (shared scalars)
    "eps_placement": {"outside", "hat", "inside", "floor", "root"},  # normalised_update
    "bias_correction": {True, False, "m"},  # bias_corrections
    "amsgrad_over": {"v", "vhat"},  # amsgrad_max
}
check_handled(__name__, HANDLED)


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
    """AD-4: (1 − β1^t, 1 − β2^t) with β^t the exact power at the integer t; VAR-5 false → (1, 1),
    "m" → (1 − β1^t, 1)."""
    if variant.bias_correction is False:
        return ONE, ONE
    # mpmath's integer power is exact to working precision for any t (binary powering).
    bc1 = ONE - mpmath.mpf(h.beta1) ** t
    if variant.bias_correction == "m":
        return bc1, ONE
    if variant.bias_correction is not True:
        raise NotImplementedError(f"bias_correction = {variant.bias_correction!r}")
    return bc1, ONE - mpmath.mpf(h.beta2) ** t


def amsgrad_max(vmax, v, bc2, variant: Variant):
    """AMS-1 / VAR-6: the running maximum, over raw v (canonical) or over v̂ (variant)."""
    if variant.amsgrad_over not in ("v", "vhat"):
        raise NotImplementedError(f"amsgrad_over = {variant.amsgrad_over!r}")
    return nan_max(vmax, v if variant.amsgrad_over == "v" else v / bc2)


def normalised_update(m, v_denom, bc1, bc2, h: Hyper, variant: Variant, denom_is_corrected=False):
    """AD-5 / VAR-4: u = m̂ / (√v̂ + ε) and its ε-hat, ε-inside-the-root and ε-floor variants.

    ``denom_is_corrected`` marks a v̂-maximum (VAR-6 variant) that needs no further 1/bc2.
    """
    eps = mpmath.mpf(h.eps)
    vhat = v_denom if denom_is_corrected else v_denom / bc2  # bc2 > 0 always
    if variant.eps_placement == "outside":
        return ieee_div(m / bc1, ieee_sqrt(vhat) + eps)
    if variant.eps_placement == "inside":
        return ieee_div(m / bc1, ieee_sqrt(vhat + eps))
    if variant.eps_placement == "floor":  # ε as a floor on the root, max(√v̂, ε); NaN stays NaN
        return ieee_div(m / bc1, nan_max(ieee_sqrt(vhat), eps))
    if variant.eps_placement == "root":  # optax's eps_root inside the root, ε outside it
        return ieee_div(m / bc1, ieee_sqrt(vhat + mpmath.mpf(variant.eps_root)) + eps)
    if variant.eps_placement == "hat":
        # ε-hat: α·√bc2/bc1 · m/(√v + ε), i.e. ε is added to the uncorrected root.
        v_raw = vhat * bc2 if denom_is_corrected else v_denom  # no needless round trip
        return (mpmath.sqrt(bc2) / bc1) * ieee_div(m, ieee_sqrt(v_raw) + eps)
    raise NotImplementedError(f"eps_placement = {variant.eps_placement!r}")


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
    d, lr = decay_factor(h, variant), learning_rate(h, variant)
    if variant.decay_order == "before":
        return theta * d - lr * u
    if variant.decay_order == "after":
        return (theta - lr * u) * d
    raise NotImplementedError(f"decay_order = {variant.decay_order!r}")
