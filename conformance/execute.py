"""Running a case through an adapter and recording what the implementation held after each step."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from adamspec.adapters.base import (
    Adapter,
    ExposesGradients,
    NotApplicable,
    ParamState,
    ReportsInPlace,
    Resumes,
    Schedules,
)
from adamspec.conformance.cases import Case


@dataclass(frozen=True)
class Trace:
    """snapshots[0] is the case's starting point; snapshots[k] what the adapter held after step k."""

    snapshots: list[list[ParamState]]
    grads_after: list[list[np.ndarray | None]] | None  # per step, None if the session can't tell
    in_place: list[list[bool]] | None
    restored: list[ParamState] | None = None  # what the session held right after resuming


# The (case, trace) pairs executed while a runner records one example: what a known deviation's
# model is checked on (conformance/deviation_models.py), since a failure names only its case.
_RECORDING: ContextVar[list | None] = ContextVar("adamspec_recording", default=None)


@contextmanager
def recording(runs: list | None = None) -> Iterator[list[tuple[Case, Trace]]]:
    """Collect every trace ``execute`` produces inside the block (into ``runs`` if given)."""
    runs = [] if runs is None else runs
    token = _RECORDING.set(runs)
    try:
        yield runs
    finally:
        _RECORDING.reset(token)


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
    """Open a session, step through the case's gradients, read back after every step; set each
    step's hyperparameters where they change (GRP-4) and resume where the case says (STATE-6)."""
    session = adapter.open(case.group_specs(), case.states())
    try:
        if case.schedule and not isinstance(session, Schedules):
            raise NotApplicable("the adapter's session has no set_hypers hook: its hyperparameters "
                                "cannot change between steps (adapters/base.py, Schedules)")
        if case.resume_at is not None and not isinstance(session, Resumes):
            raise NotApplicable("the adapter's session has no resume hook: it cannot checkpoint "
                                "and resume (adapters/base.py, Resumes)")
        snapshots = [initial_snapshot(case)]
        grads_after = [] if isinstance(session, ExposesGradients) else None
        in_place = [] if isinstance(session, ReportsInPlace) else None
        restored = None
        for k, grads in enumerate(case.grads):
            if k == case.resume_at:
                session.resume()
                restored = session.read()
            if case.schedule and k > 0 and case.schedule[k] != case.schedule[k - 1]:
                session.set_hypers(case.schedule[k])
            session.step(list(grads))
            snapshots.append(session.read())
            if grads_after is not None:
                grads_after.append(session.grads_after())
            if in_place is not None:
                in_place.append(session.updated_in_place())
        trace = Trace(snapshots, grads_after, in_place, restored)
        runs = _RECORDING.get()
        if runs is not None:
            runs.append((case, trace))
        return trace
    finally:
        session.close()
