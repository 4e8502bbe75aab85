"""Hyperparameters, the mode, and the variant profile (SPEC VAL-*, VAR-*).

Hyperparameters are binary64 values: ``lr=0.1`` means the binary value nearest one
tenth, and the reference computes with exactly that value (SPEC NUM-1, DT-4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np


class Mode(StrEnum):
    ADAM = "adam"  # no decay term at all
    ADAM_L2 = "adam_l2"  # coupled L2: λθ added to the gradient (SPEC L2-*)
    ADAMW = "adamw"  # decoupled decay: θ(1 − αλ) before the update (SPEC AW-*)


class HyperparameterError(ValueError):
    """A hyperparameter value the spec rejects (SPEC VAL-*)."""


@dataclass(frozen=True)
class Profile:
    """Variant knobs (SPEC VAR-*). The default instance is the canonical algorithm."""

    decay_order: str = "before"  # VAR-2: "before" | "after" the update
    decay_scale: str = "lr"  # VAR-3: "lr" (α·λ) | "independent" (λ) | "scheduled" (η·λ)
    schedule_multiplier: float = 1.0  # VAR-3: η for "scheduled"; it also scales α·u
    eps_placement: str = "outside"  # VAR-4: "outside" | "hat" | "inside"
    bias_correction: bool = True  # VAR-5
    amsgrad_over: str = "v"  # VAR-6: "v" (raw, torch) | "vhat"

    def __post_init__(self):
        allowed = {
            "decay_order": ("before", "after"),
            "decay_scale": ("lr", "independent", "scheduled"),
            "eps_placement": ("outside", "hat", "inside"),
            "amsgrad_over": ("v", "vhat"),
        }
        for name, values in allowed.items():
            if getattr(self, name) not in values:
                raise ValueError(f"Profile.{name} must be one of {values}, got {getattr(self, name)!r}")
        eta = self.schedule_multiplier
        if not (math.isfinite(eta) and eta >= 0):
            raise ValueError(f"Profile.schedule_multiplier must be finite and >= 0, got {eta!r}")

    @property
    def is_canonical(self) -> bool:
        return self == CANONICAL

    def departures(self) -> dict[str, object]:
        """The knobs that differ from canonical, for reports (SPEC VAR-1)."""
        return {k: v for k, v in vars(self).items() if getattr(CANONICAL, k) != v}


CANONICAL = Profile()


def _finite_float(name: str, value) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise HyperparameterError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(x):
        raise HyperparameterError(f"{name} must be finite, got {value!r}")
    return x


@dataclass(frozen=True)
class Hyper:
    """One parameter group's hyperparameters, validated at construction (SPEC VAL-5)."""

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    mode: Mode = Mode.ADAMW
    amsgrad: bool = False
    maximize: bool = False

    def __post_init__(self):
        set_ = object.__setattr__  # frozen: normalise the fields once, here
        set_(self, "mode", Mode(self.mode))
        for name in ("lr", "eps", "weight_decay"):  # VAL-1, VAL-2, VAL-4
            x = _finite_float(name, getattr(self, name))
            if x < 0:
                raise HyperparameterError(f"{name} must be >= 0, got {x!r}")
            set_(self, name, x)
        for name in ("beta1", "beta2"):  # VAL-3
            x = _finite_float(name, getattr(self, name))
            if not 0.0 <= x < 1.0:
                raise HyperparameterError(f"{name} must lie in [0, 1), got {x!r}")
            set_(self, name, x)
        if self.mode is Mode.ADAM and self.weight_decay != 0.0:
            raise HyperparameterError(
                "mode 'adam' has no decay term; weight_decay > 0 with coupled L2 is mode 'adam_l2'"
            )

    def held_in(self, dtype) -> Hyper:
        """These hyperparameters as an implementation holding them in ``dtype`` sees them.

        E.g. a kernel that keeps lr in a float32 tensor computes with float32(lr), and
        the spec's exact value is then taken at that binary value (SPEC DT-4).
        """
        cast = np.dtype(dtype).type
        return replace(
            self,
            **{n: float(cast(getattr(self, n))) for n in ("lr", "beta1", "beta2", "eps", "weight_decay")},
        )
