"""The variant knobs (SPEC VAR-*), one module each: ``reference/knobs/<knob>.py``.

Every module of this package except ``base`` is a knob, found here by listing the package
(a new file is a new knob: nothing else names it) and ordered by its VAR clause's number.
Each holds its table entry, its parameters and, for each value, its exact piece, its bound
terms and its numpy formula (``base``); ``check_pieces`` runs on each at import.
``reference.hyper`` builds ``KNOBS``, ``KNOB_PARAMETERS`` and ``Variant`` from ``MODULES``;
``reference.steps``, ``reference.bound`` and ``adapters/numpy_impl.py`` call the pieces.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

from adamspec.reference.knobs.base import Knob, Parameter, check_pieces, same_value

__all__ = ["MODULES", "Knob", "Parameter", "check_pieces", "piece", "same_value"]


def _clause_number(module) -> int:
    m = re.fullmatch(r"VAR-(\d+)", module.KNOB.clause)
    if not m:
        raise ImportError(f"{module.__name__}: KNOB.clause must be a VAR-n clause, got {module.KNOB.clause!r}")
    return int(m[1])


def _discover() -> dict:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        check_pieces(module)
        found.append(module)
    found.sort(key=_clause_number)
    return {m.__name__.rsplit(".", 1)[1]: m for m in found}


# knob name -> its module, in the order of the VAR clauses (VAR-2, VAR-3, ...)
MODULES: dict = _discover()


def piece(kind: str, name: str, value, where: str):
    """The ``kind`` piece (EXACT, BOUND, NUMPY) of knob ``name`` at ``value``, or NotImplementedError."""
    module = MODULES.get(name)
    f = getattr(module, kind, {}).get(value) if module is not None else None
    if f is None:  # (Variant admits only the table's values, by type: no 1 for True here)
        raise NotImplementedError(f"{where} does not implement {name} = {value!r}")
    return f
