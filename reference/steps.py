"""The canonical step as small pure functions of exact scalars, one per clause.

Composed the way optax composes optimizers (moments → bias correction → normalise →
decay → learning rate), so Adam+L2 and AdamW differ only in where the decay stands.
All arithmetic is mpmath at the caller's working precision; inputs are exact mpf.
"""

from __future__ import annotations

import mpmath

from adamspec.reference.hyper import Hyper, Mode, Profile

ONE = mpmath.mpf(1)


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


def bias_corrections(t: int, h: Hyper, profile: Profile):
    """AD-4: (1 − β1^t, 1 − β2^t) with β^t the exact power at the integer t; VAR-5 off → (1, 1)."""
    if not profile.bias_correction:
        return ONE, ONE
    # mpmath's integer power is exact to working precision for any t (binary powering).
    return ONE - mpmath.mpf(h.beta1) ** t, ONE - mpmath.mpf(h.beta2) ** t


def amsgrad_max(vmax, v, bc2, profile: Profile):
    """AMS-1 / VAR-6: the running maximum, over raw v (canonical) or over v̂ (variant)."""
    return nan_max(vmax, v if profile.amsgrad_over == "v" else v / bc2)


def normalised_update(m, v_denom, bc1, bc2, h: Hyper, profile: Profile, denom_is_corrected=False):
    """AD-5 / VAR-4: u = m̂ / (√v̂ + ε) and its ε-hat and ε-inside-the-root variants.

    ``denom_is_corrected`` marks a v̂-maximum (VAR-6 variant) that needs no further 1/bc2.
    """
    eps = mpmath.mpf(h.eps)
    vhat = v_denom if denom_is_corrected else v_denom / bc2  # bc2 > 0 always
    if profile.eps_placement == "outside":
        return ieee_div(m / bc1, ieee_sqrt(vhat) + eps)
    if profile.eps_placement == "inside":
        return ieee_div(m / bc1, ieee_sqrt(vhat + eps))
    # ε-hat: α·√bc2/bc1 · m/(√v + ε), i.e. ε is added to the uncorrected root.
    v_raw = vhat * bc2 if denom_is_corrected else v_denom  # no needless round trip
    return (mpmath.sqrt(bc2) / bc1) * ieee_div(m, ieee_sqrt(v_raw) + eps)


def decay_factor(h: Hyper, profile: Profile):
    """AW-4 / VAR-3: the decoupled factor 1 − α·λ (or 1 − λ, or 1 − η·λ); 1 outside adamw."""
    if h.mode is not Mode.ADAMW:
        return ONE
    lam = mpmath.mpf(h.weight_decay)
    scale = {
        "lr": mpmath.mpf(h.lr),
        "independent": ONE,
        "scheduled": mpmath.mpf(profile.schedule_multiplier),
    }[profile.decay_scale]
    return ONE - scale * lam


def learning_rate(h: Hyper, profile: Profile):
    """AD-6: α (times the schedule multiplier η under VAR-3 "scheduled")."""
    lr = mpmath.mpf(h.lr)
    if profile.decay_scale == "scheduled":
        lr = lr * mpmath.mpf(profile.schedule_multiplier)
    return lr


def apply_update(theta, u, h: Hyper, profile: Profile):
    """AW-1 / AD-6 / VAR-2: θ_t = θ(1 − αλ) − α·u (canonical) or (θ − α·u)(1 − αλ) (after)."""
    d, lr = decay_factor(h, profile), learning_rate(h, profile)
    if profile.decay_order == "before":
        return theta * d - lr * u
    return (theta - lr * u) * d
