"""Running a case through an adapter and recording what the implementation held after each step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adamspec.adapters.base import Adapter, ExposesGradients, ParamState, ReportsInPlace
from adamspec.conformance.cases import Case


@dataclass(frozen=True)
class Trace:
    """snapshots[0] is the case's starting point; snapshots[k] what the adapter held after step k."""

    snapshots: list[list[ParamState]]
    grads_after: list[list[np.ndarray | None]] | None  # per step, None if the session can't tell
    in_place: list[list[bool]] | None


def initial_snapshot(case: Case) -> list[ParamState]:
    out = []
    for p in case.params:
        st = p.state
        if st is None or st.step is None:
            out.append(ParamState(np.array(p.init, copy=True)))
        else:
            out.append(ParamState(np.array(p.init, copy=True), st.m, st.v, st.vmax, st.step))
    return out


def execute(adapter: Adapter, case: Case) -> Trace:
    """Open a session, step through the case's gradients, read back after every step."""
    session = adapter.open(case.group_specs(), case.states())
    try:
        snapshots = [initial_snapshot(case)]
        grads_after = [] if isinstance(session, ExposesGradients) else None
        in_place = [] if isinstance(session, ReportsInPlace) else None
        for grads in case.grads:
            session.step(list(grads))
            snapshots.append(session.read())
            if grads_after is not None:
                grads_after.append(session.grads_after())
            if in_place is not None:
                in_place.append(session.updated_in_place())
        return Trace(snapshots, grads_after, in_place)
    finally:
        session.close()
