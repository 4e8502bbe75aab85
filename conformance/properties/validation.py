"""Hyperparameter validation (VAL-1 … VAL-6): every row of the must-reject table
(``conformance/must_reject.py``) is run on its own, through the adapter's ``construct`` hook, with
a VAL-6 row for each flag the capability record says the implementation lacks."""

from __future__ import annotations

from adamspec.adapters.base import Constructs, NotApplicable
from adamspec.conformance.cases import Case
from adamspec.conformance.must_reject import MUST_REJECT_BY_NAME, must_reject_for
from adamspec.conformance.registry import Row, Violation, prop


def _must_reject_rows(caps) -> list[Row]:
    return [Row(r.name, Case((), (), args={"must_reject": r.name})) for r in must_reject_for(caps)]


@prop("validation", ["VAL-1", "VAL-2", "VAL-3", "VAL-4", "VAL-5", "VAL-6"],
      "Bad hyperparameters, and flags it lacks, raise a clear error at construction (a must-reject table)",
      rows=_must_reject_rows)
def validation(adapter, case, collector):
    if not isinstance(adapter, Constructs):
        raise NotApplicable("the adapter cannot construct its optimizer from raw hyperparameters")
    row = MUST_REJECT_BY_NAME[case.args["must_reject"]]
    try:
        adapter.construct(**row.kwargs())
    except Exception as exc:  # any exception type; its message must name the culprit
        msg = str(exc).lower()
        if not any(w.lower() in msg for w in row.words):
            collector.fail(Violation(f"{row.name} raised {type(exc).__name__}({str(exc)!r}), which names "
                                     "neither the hyperparameter nor its value", case, None,
                                     clause="VAL-5", row=row.name))
        return
    collector.fail(Violation(f"construction with {row.name} was accepted ({row.clause} requires an error)",
                             case, None, clause=row.clause, row=row.name))
