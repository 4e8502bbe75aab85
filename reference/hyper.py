"""Hyperparameters, the mode, and the variant knobs (SPEC VAL-*, VAR-*).

Hyperparameters are binary64 values: ``lr=0.1`` means the binary value nearest one
tenth, and the reference computes with exactly that value (SPEC NUM-1, DT-4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Literal

import numpy as np

from adamspec.reference import knobs as _knobs
from adamspec.reference.knobs import Knob


class Mode(StrEnum):
    ADAM = "adam"  # no decay term at all
    ADAM_L2 = "adam_l2"  # coupled L2: λθ added to the gradient (SPEC L2-*)
    ADAMW = "adamw"  # decoupled decay: θ(1 − αλ) before the update (SPEC AW-*)


class HyperparameterError(ValueError):
    """A hyperparameter value the spec rejects (SPEC VAL-*)."""


# ---------------------------------------------------------------- variant knobs (SPEC VAR-*)
#
# THE table of variant knobs, read from the knob modules (reference/knobs/<knob>.py, one per
# knob, in the order of their VAR clauses): each module's ``KNOB`` holds the allowed values, the
# canonical one and the clause, its ``PARAMETERS`` the parameters of its values, and its pieces
# the value's arithmetic. ``Variant`` is built and validated from it; the modules that compute a
# step (``steps``/``exact``, ``fast``, ``bound``) each declare the values they handle in a
# ``HANDLED`` dict that ``check_handled`` compares with this table when they are imported:
# a value added here and forgotten in one of them fails that import, naming the module.

KNOBS: dict[str, Knob] = {name: module.KNOB for name, module in _knobs.MODULES.items()}

# Parameters of a knob value (not knobs themselves): name -> the knob and value that use it.
KNOB_PARAMETERS: dict[str, tuple[str, object]] = {
    p: (name, par.value) for name, module in _knobs.MODULES.items() for p, par in module.PARAMETERS.items()
}
_PARAMETERS = {p: par for module in _knobs.MODULES.values() for p, par in module.PARAMETERS.items()}


class _VariantMethods:
    """What ``Variant`` does; its fields are the knob table's (``_variant_class``)."""

    def __post_init__(self):
        for name, knob in KNOBS.items():
            value = getattr(self, name)
            # by value and type: 0 == False, but 0 is not a value of bias_correction
            if not any(value == x and type(value) is type(x) for x in knob.values):
                raise ValueError(f"Variant.{name} ({knob.clause}) must be one of {knob.values}, got {value!r}")
        for name, par in _PARAMETERS.items():
            if not par.admits(getattr(self, name)):
                raise ValueError(f"Variant.{name} must be finite and {par.rule}, got {getattr(self, name)!r}")

    def departures(self) -> dict[str, object]:
        """The knobs (and knob parameters) that differ from canonical, for reports (SPEC VAR-1)."""
        return {k: v for k, v in vars(self).items() if getattr(CANONICAL, k) != v}

    def departs_in(self, knob: str) -> bool:
        """Whether this variant's value of ``knob`` is not the canonical one (η matters only
        under ``decay_scale = "scheduled"``, which departs already)."""
        if knob not in KNOBS:
            raise KeyError(f"no variant knob {knob!r}; the knobs are {tuple(KNOBS)}")
        return getattr(self, knob) != KNOBS[knob].canonical


def _variant_class():
    """``Variant``: a frozen dataclass with one field per knob (typed ``Literal[its values]``,
    default canonical), each followed by its values' parameters (floats, default ``default``)."""
    annotations, defaults = {}, {}
    for name, module in _knobs.MODULES.items():
        annotations[name] = Literal[module.KNOB.values]
        defaults[name] = module.KNOB.canonical
        for p, par in module.PARAMETERS.items():
            annotations[p], defaults[p] = float, par.default
    doc = ("A value for each variant knob (SPEC VAR-1). The default instance is the canonical step.\n\n"
           "The fields are the knobs of ``KNOBS`` (typed as Literals of their values) plus the parameters\n"
           "of ``KNOB_PARAMETERS``: " + ", ".join(annotations) + ". Validation comes from the table.")
    namespace = {"__annotations__": annotations, "__module__": __name__, "__qualname__": "Variant",
                 "__doc__": doc, **defaults}
    return dataclass(frozen=True)(type("Variant", (_VariantMethods,), namespace))


Variant = _variant_class()
CANONICAL = Variant()

if {f.name for f in fields(Variant)} != set(KNOBS) | set(KNOB_PARAMETERS):  # pragma: no cover
    raise ImportError("Variant's fields and the KNOBS table disagree: "
                      f"{sorted({f.name for f in fields(Variant)} ^ (set(KNOBS) | set(KNOB_PARAMETERS)))}")


def check_handled(where: str, handled: dict[str, set], knobs: dict[str, Knob] | None = None,
                  subset: bool = False) -> None:
    """Fail unless ``handled`` (a module's ``HANDLED``) names exactly the knobs and values of the table.

    Called at import by every module that computes a step, so that a knob value added to
    ``KNOBS`` and not implemented there is an ImportError, not a canonical step in disguise.
    ``subset=True`` is for the fast oracle, which hands the values it lacks to the exact
    reference (``handles``): it must name no value outside the table, but may lack some.
    """
    knobs = KNOBS if knobs is None else knobs
    want = {name: set(k.values) for name, k in knobs.items()}
    got = {name: set(values) for name, values in handled.items()}
    if got != want:
        lines = []
        for name in sorted(set(want) | set(got)):
            missing = set() if subset else want.get(name, set()) - got.get(name, set())
            extra = got.get(name, set()) - want.get(name, set())
            if name not in got and not subset:
                lines.append(f"knob {name} ({knobs[name].clause}) is not handled at all")
            elif name not in want:
                lines.append(f"knob {name} is handled but is not in the KNOBS table")
            else:
                if missing:
                    lines.append(f"{name} ({knobs[name].clause}): values {sorted(missing, key=str)} not handled")
                if extra:
                    lines.append(f"{name}: values {sorted(extra, key=str)} handled but not in the table")
        if lines:
            raise ImportError(f"{where} does not handle the variant knobs of reference.hyper.KNOBS: "
                              + "; ".join(lines))


def handles(handled: dict[str, set], variant: Variant) -> bool:
    """Whether a module's ``HANDLED`` covers every knob value of ``variant``."""
    return all(name in handled and getattr(variant, name) in handled[name] for name in KNOBS)


def require_handled(where: str, handled: dict[str, set], variant: Variant) -> None:
    """At a call: refuse a variant value ``where`` does not implement (e.g. a table patched at run time)."""
    for name, values in handled.items():
        if getattr(variant, name) not in values:
            raise NotImplementedError(f"{where} does not implement {name} = {getattr(variant, name)!r}")
    for name in KNOBS.keys() - handled.keys():
        raise NotImplementedError(f"{where} does not implement the knob {name}")


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


# The scalars a knob value defines, shared by the exact step (mpmath), the fast oracle
# (mpmath at its constants' precision) and the bound (binary64): ``num`` converts a
# binary64 hyperparameter into the caller's number type. The formulas are the knob's
# (reference/knobs/decay_scale.py, EXACT).


def decay_scale_factor(h: Hyper, variant: Variant, num=float):
    """VAR-3 / AW-4: what λ is multiplied by in the decoupled factor 1 − scale·λ: α, 1, η or α²/α_max."""
    return _knobs.piece("EXACT", "decay_scale", variant.decay_scale, "reference.hyper")(h, variant, num)[0]


def step_size(h: Hyper, variant: Variant, num=float):
    """AD-6 / VAR-3: the factor of u in the step: α, or η·α under "scheduled"."""
    return _knobs.piece("EXACT", "decay_scale", variant.decay_scale, "reference.hyper")(h, variant, num)[1]
