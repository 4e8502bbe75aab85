"""VAR-3 — decay scale: what λ is multiplied by in the decoupled factor d = 1 − scale·λ (mode adamw).

lr: α (AW-4, canonical)   independent: 1   scheduled: η, and the step is η·α·u   corrected: α²/α_max
"""

from __future__ import annotations

from adamspec.reference.knobs.base import Knob, Parameter

KNOB = Knob(("lr", "independent", "scheduled", "corrected"), "lr", "VAR-3",
            "decoupled decay scaled by α·λ (AW-4), by λ, by η·λ with the step η·α·u, or by (α²/α_max)·λ")
PARAMETERS = {
    "schedule_multiplier": Parameter("scheduled", 1.0, False, "η for 'scheduled'; it also scales α·u"),
    "max_lr": Parameter("corrected", 1.0, True, "α_max for 'corrected', the decay scale is α²/α_max"),
}

# EXACT: the value's two scalars (scale, step size) from the binary64 hyperparameters, in the
# caller's number type ``num``: shared by the exact step (mpmath) and the bound (binary64), as
# ``reference.hyper.decay_scale_factor`` and ``step_size``.
EXACT = {
    "lr": lambda h, p, num: (num(h.lr), num(h.lr)),
    "independent": lambda h, p, num: (num(1), num(h.lr)),
    "scheduled": lambda h, p, num: (num(p.schedule_multiplier), num(h.lr) * num(p.schedule_multiplier)),
    "corrected": lambda h, p, num: (num(h.lr) * num(h.lr) / num(p.max_lr), num(h.lr)),
}


# BOUND: the absolute error of d = 1 − scale·λ, given scale·λ, d, and the relative errors of a
# held hyperparameter (rho_hold) and of a derived scalar (rho_der). Each held factor of scale·λ
# carries rho_hold: two (λ and the scale α, 1 or η), four under "corrected" (λ, α twice, α_max).
def _held(factors: int):
    def d_error(scale, lam, d, rho_hold, rho_der):
        return scale * lam * (factors * rho_hold + rho_der) + rho_der * abs(d)
    return d_error


BOUND = {"lr": _held(2), "independent": _held(2), "scheduled": _held(2), "corrected": _held(4)}

# NUMPY: (step size, scale) in binary64 from the VAR-3 formulas, as a Python host computes them.
NUMPY = {
    "lr": lambda h, p: (h.lr, h.lr),
    "independent": lambda h, p: (h.lr, 1.0),
    "scheduled": lambda h, p: (h.lr * p.schedule_multiplier, p.schedule_multiplier),
    "corrected": lambda h, p: (h.lr, h.lr * h.lr / p.max_lr),
}
