"""What a knob module holds: its table entry (``Knob``), its parameters, and one piece per value.

A knob module (``reference/knobs/<knob>.py``; the file's name is the knob's name) defines

- ``KNOB``: the allowed values, the canonical one, the VAR clause and what the values mean;
- ``PARAMETERS``: the parameters some of its values carry (``Parameter``; ``{}`` for none);
- one dict per piece, keyed by every value of ``KNOB.values``:
  ``EXACT``, the value's arithmetic in mpmath (``reference.steps`` calls it);
  ``BOUND``, its terms of the error bound in binary64 (``reference.bound``);
  ``NUMPY``, its formula in the storage dtype for the plain numpy implementation
  (``adapters/numpy_impl.py``), written from the spec separately from ``EXACT``.

``check_pieces`` is run on every knob module when ``reference.knobs`` is imported: a value in
``KNOB.values`` without one of its pieces is an ImportError naming the module and the value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PIECES = ("EXACT", "BOUND", "NUMPY")


@dataclass(frozen=True)
class Knob:
    """One variant knob: its allowed values, the canonical one, and the clause defining them."""

    values: tuple
    canonical: object
    clause: str
    meaning: str

    def __post_init__(self):
        if self.canonical not in self.values:
            raise ValueError(f"canonical value {self.canonical!r} is not among {self.values}")


@dataclass(frozen=True)
class Parameter:
    """A parameter of one knob value (not a knob itself): a ``Variant`` field, finite, with a floor.

    ``positive``: it must be > 0 (else ≥ 0). ``default`` is the value that leaves the step as
    the knob value's plain form (η = 1, α_max = 1, ε_root = 0).
    """

    value: object  # the knob value that uses it
    default: float
    positive: bool
    meaning: str

    @property
    def rule(self) -> str:
        return "> 0" if self.positive else ">= 0"

    def admits(self, x) -> bool:
        if not (isinstance(x, (int, float)) and math.isfinite(x)):
            return False
        return x > 0 if self.positive else x >= 0


def same_value(a, b) -> bool:
    """Knob values compare by value and type: 0 == False, but 0 is not a value of bias_correction."""
    return a == b and type(a) is type(b)


def check_pieces(module) -> None:
    """Fail unless ``module`` has each piece (``PIECES``) for exactly the values of its ``KNOB``."""
    where = module.__name__
    knob = getattr(module, "KNOB", None)
    if not isinstance(knob, Knob):
        raise ImportError(f"{where} defines no KNOB (a reference.knobs.base.Knob)")
    params = getattr(module, "PARAMETERS", None)
    if not isinstance(params, dict) or not all(isinstance(p, Parameter) for p in params.values()):
        raise ImportError(f"{where}: PARAMETERS must be a dict of reference.knobs.base.Parameter")
    lines = []
    for name, p in params.items():
        if not any(same_value(p.value, v) for v in knob.values):
            lines.append(f"parameter {name} belongs to {p.value!r}, which is not a value of the knob")
    for piece in PIECES:
        table = getattr(module, piece, None)
        if not isinstance(table, dict):
            lines.append(f"no {piece} pieces at all")
            continue
        missing = [v for v in knob.values if not any(same_value(v, k) and callable(f) for k, f in table.items())]
        extra = [k for k in table if not any(same_value(k, v) for v in knob.values)]
        if missing:
            lines.append(f"{piece} has no piece for the values {missing} of KNOB.values")
        if extra:
            lines.append(f"{piece} has pieces for {extra}, which are not in KNOB.values")
    if lines:
        raise ImportError(f"{where} ({knob.clause}): " + "; ".join(lines))
