"""Hyperparameters a conforming implementation must reject at construction (SPEC VAL-1…VAL-6).

Data, not code: each row is one bad value in spec vocabulary, the clause it violates, and the
words of which a clear error message names at least one (the hyperparameter or its value).
The ``validation`` property runs every row on its own, in every profile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_DEFAULTS = {"beta1": 0.9, "beta2": 0.999}


@dataclass(frozen=True)
class MustReject:
    clause: str
    name: str  # the one bad setting, e.g. "lr=inf" or "beta2=1.0"; a deviation entry's ``row``
    words: tuple[str, ...]

    @property
    def setting(self) -> tuple[str, float | bool]:
        key, value = self.name.split("=")
        return key, value == "True" if value in ("True", "False") else float(value)

    def kwargs(self) -> dict:
        """The keyword arguments of an adapter's ``construct`` hook (torch's spelling: ``betas``)."""
        key, value = self.setting
        if key in _DEFAULTS:
            betas = dict(_DEFAULTS, **{key: value})
            return {"betas": (betas["beta1"], betas["beta2"])}
        return {key: value}


def _rows(clause: str, key: str, values, words, value_names_it: bool = True) -> list[MustReject]:
    # A value such as 1.0 is too common a string to show that a beta message names it.
    return [MustReject(clause, f"{key}={v!r}", (*words, repr(v)) if value_names_it else words) for v in values]


_LR = ("lr", "learning rate")
_EPS = ("eps", "epsilon")
_WD = ("weight_decay", "weight decay")
MUST_REJECT: tuple[MustReject, ...] = (
    *_rows("VAL-1", "lr", (-1e-3, math.nan, math.inf), _LR),
    *_rows("VAL-2", "eps", (-1e-8, math.nan, math.inf), _EPS),
    *_rows("VAL-3", "beta1", (1.0, -0.1, math.nan), ("beta",), value_names_it=False),
    *_rows("VAL-3", "beta2", (1.0, 1.5, math.inf), ("beta",), value_names_it=False),
    *_rows("VAL-4", "weight_decay", (-0.01, math.nan, math.inf), _WD),
)
# VAL-6: a flag the capability record says the implementation lacks; asked only of such records.
OPTIONS_NOT_IMPLEMENTED: tuple[MustReject, ...] = (
    MustReject("VAL-6", "amsgrad=True", ("amsgrad",)),
    MustReject("VAL-6", "maximize=True", ("maximize",)),
)
MUST_REJECT_BY_NAME = {r.name: r for r in (*MUST_REJECT, *OPTIONS_NOT_IMPLEMENTED)}


def must_reject_for(caps) -> list[MustReject]:
    """The rows a record is asked: every value row, and the VAL-6 row of each flag it lacks."""
    lacks = {"amsgrad": not caps.amsgrad, "maximize": not caps.maximize}
    return [*MUST_REJECT, *(r for r in OPTIONS_NOT_IMPLEMENTED if lacks[r.setting[0]])]
