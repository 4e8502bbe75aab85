"""Running properties against an adapter: hypothesis draws, shrinks, and the verdicts come back.

A failing property is reported with its minimal (shrunk) counterexample; an exception
from the implementation is an "error" verdict naming the property; a capability the
adapter lacks makes the property "not applicable" with the reason — never "pass".
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from hypothesis import example as hypothesis_example
from hypothesis import given, reject
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import FlakyFailure, Unsatisfiable

import adamspec
from adamspec import spec
from adamspec.adapters.base import Adapter, Claims, NotApplicable, UnsupportedCase, WarmsUp
from adamspec.conformance import deviation_models
from adamspec.conformance import deviations as _deviations
from adamspec.conformance.deviations import Deviation, excusing
from adamspec.conformance.execute import recording
from adamspec.conformance.profiles import hypothesis_settings
from adamspec.conformance.registry import Collector, Property, Raised, Violation, load
from adamspec.conformance.results import Counterexample, Excused, PropertyVerdict, RunResult


def environment(profile: str, seed: int | None) -> dict:
    env = {"python": platform.python_version(), "numpy": np.__version__,
           "adamspec": adamspec.__version__, "spec": spec.spec_version(),
           "platform": platform.platform(), "profile": profile, "seed": seed}
    torch = sys.modules.get("torch")
    if torch is not None:
        env["torch"] = torch.__version__
        env["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    else:  # not imported (yet): report the installed version without importing it
        try:
            env["torch"] = importlib.metadata.version("torch")
        except importlib.metadata.PackageNotFoundError:
            env["torch"] = "not installed"
        env["device"] = "cpu"
    return env


def select(clauses: Iterable[str] | None = None) -> list[Property]:
    """Properties checking any of ``clauses`` (all when None), in registration order."""
    properties = load()
    if not clauses:
        return list(properties.values())
    wanted = {c.upper() for c in clauses}
    unknown = wanted - {c.id for c in spec.clauses()}
    if unknown:
        raise KeyError(f"no such clause(s) in SPEC {spec.spec_version()}: {sorted(unknown)}")
    return [p for p in properties.values() if wanted & set(p.clauses)]


class ExampleTimeout(Exception):
    """One example ran past the per-example time limit (a hanging implementation)."""


def _bounded(fn, limit: float | None, hung: list):
    """Run fn() in a worker thread for at most ``limit`` seconds.

    A thread that hangs cannot be killed; it is left behind as a daemon, and every later
    example of the same property fails at once with the same error, so hypothesis's
    shrinking does not wait out the limit again and again.
    """
    if not hung:
        if limit is None:
            return fn()
        out: dict = {}

        def target():
            try:
                out["value"] = fn()
            except BaseException as exc:  # handed back to the caller's thread
                out["error"] = exc

        worker = threading.Thread(target=target, daemon=True)
        worker.start()
        worker.join(limit)
        if not worker.is_alive():
            if "error" in out:
                raise out["error"]
            return out.get("value")
        hung.append(f"an example ran longer than the {limit:g} s per-example limit (hang?)")
    raise ExampleTimeout(hung[0])  # one raise site: hypothesis sees the same failure each time


def _leaf(exc: BaseException) -> BaseException:
    """The first underlying exception of an exception group (hypothesis's FlakyFailure is one)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def run_property(prop: Property, adapter: Adapter, profile: str = "ci", seed: int | None = None,
                 example_timeout: float | None = 60.0, deviations: Sequence[Deviation] = (),
                 replay_dir: Path | None = None) -> PropertyVerdict:
    """One property against one adapter. ``deviations`` excuse exactly the failures they name,
    and the search goes on past each one (module docstring of ``deviations``); cases too large
    for a replay token are written to ``replay_dir`` only if one is given."""
    caps = adapter.capabilities
    verdict = PropertyVerdict(prop.name, prop.clause, prop.clauses, spec.clause(prop.clause).title)
    reason = prop.needs(caps)
    if reason:
        verdict.verdict, verdict.reason = "not-applicable", reason
        return verdict
    if isinstance(adapter, WarmsUp):  # one-time set-up (a compile) outside every example's time limit
        try:
            adapter.warm_up()
        except Exception as exc:
            verdict.verdict = "error"
            verdict.reason = f"{prop.clause}: the adapter's warm-up failed: {type(exc).__name__}: {exc}"[:500]
            return verdict
    claim = adapter.claim if isinstance(adapter, Claims) else None
    search = _Search(prop, adapter, list(deviations), example_timeout, replay_dir)
    start = time.perf_counter()
    if prop.rows is not None:
        search.table(verdict, claim)
    else:
        search.drawn(verdict, profile, seed, claim)
    verdict.seconds = time.perf_counter() - start
    c = search.collector
    verdict.examples, verdict.max_bound_fraction, verdict.max_ulp, verdict.exempt_elements = (
        c.examples, c.max_fraction, c.max_ulp, c.exempt)
    verdict.inputs = search.inputs
    return verdict


class _Search:
    """The search for failures that no known deviation excuses.

    A drawn property is searched again after each newly excused deviation, with that entry
    now excusing: every deviation gets its own minimal counterexample (the shrunk failure of
    the search in which it was the first unexcused one), and the last search looks only for
    failures no entry names. Each search adds one entry, so there are at most one more
    searches than entries that match.
    """

    def __init__(self, prop: Property, adapter: Adapter, deviations: list[Deviation], timeout: float | None,
                 replay_dir: Path | None = None):
        self.prop, self.adapter, self.deviations, self.timeout = prop, adapter, deviations, timeout
        self.replay_dir = replay_dir
        self.name = adapter.capabilities.name
        self.active: list[Deviation] = []  # entries that now excuse, in the order they were seen
        self.minimal: dict[Deviation, Counterexample] = {}
        self.first_seen: dict[Deviation, Violation] = {}
        self.collector = Collector(excuse=self._excuse)
        self.hung: list[str] = []
        self.inputs: set = set()  # the kinds of input checked (PropertyVerdict.inputs)
        self.runs: list = []  # the (case, trace) pairs of the example being checked

    def _report(self, v: Violation, claim) -> Counterexample:
        return _counterexample(self.prop, self.name, v, claim, replay_dir=self.replay_dir)

    def _entry(self, v: Violation) -> Deviation | None:
        """The entry that excuses ``v``, decided once while its example's traces are at hand (an
        entry's model is checked on them) and kept on the violation for the end of the search."""
        if v.matched is None:
            caps = self.adapter.capabilities
            entry = excusing(self.deviations, self.name, self.prop.name,
                             _counterexample(self.prop, self.name, v, replayable=False),
                             lambda d: deviation_models.fits(d.model, v, self.runs, caps, d.fits))
            v.matched = (entry,)
        return v.matched[0]

    def _excuse(self, v: Violation) -> bool:
        entry = self._entry(v)
        if entry is None:
            return False
        self.first_seen.setdefault(entry, v)
        return entry in self.active or self.prop.rows is not None

    def _run_one(self, case) -> None:
        """The check on one case; failures go through the collector, exceptions become errors."""
        self.collector.examples += 1
        self.inputs |= _deviations.input_kinds(case, reaches=self.prop.judges_steps)
        self.runs = []

        def check():  # recorded in the thread that runs it (a context does not cross threads)
            with recording(self.runs):
                self.prop.check(self.adapter, case, self.collector)

        try:
            _bounded(check, self.timeout, self.hung)
        except (NotApplicable, UnsupportedCase, ExampleTimeout):
            raise
        except Violation as v:
            if v.case is None:
                v.case = case
            self.collector.fail(v)
        except Exception as exc:  # the implementation (or an adapter) raised on this case
            self.collector.fail(Raised(exc, case, self.prop.clause))

    def _excused(self, claim) -> list[Excused]:
        out = []
        for entry in dict.fromkeys([*self.active, *self.first_seen]):
            cx = self.minimal.get(entry) or self._report(self.first_seen[entry], claim)
            out.append(Excused(entry.label(), entry.reason, cx))
        return out

    def table(self, verdict: PropertyVerdict, claim) -> None:
        """Every row on its own: an excused row says nothing about the others."""
        rows = self.prop.rows(self.adapter.capabilities)
        for row in rows:
            try:
                self._run_one(row.case)
            except NotApplicable as exc:
                verdict.verdict, verdict.reason = "not-applicable", str(exc)
                return
            except Violation as v:
                verdict.failures.append(self._report(v, claim))
            except ExampleTimeout as exc:
                verdict.verdict, verdict.reason = "error", f"{self.prop.clause}: {exc}"
        verdict.excused = self._excused(claim)
        if verdict.verdict == "pass" and verdict.failures:
            verdict.verdict = "error" if any(c.kind == "error" for c in verdict.failures) else "fail"
            verdict.reason = f"{len(verdict.failures)} of {len(rows)} rows fail"

    def drawn(self, verdict: PropertyVerdict, profile: str, seed: int | None, claim) -> None:
        while True:
            found = self._hypothesis(verdict, profile, seed)
            if found is None:
                break
            v, note = found
            entry = self._entry(v)
            if entry is not None and entry not in self.active:
                self.minimal[entry] = self._report(v, claim)
                self.active.append(entry)
                continue  # search again, this deviation now excused
            verdict.verdict = v.kind
            verdict.failures = [self._report(v, claim)]
            verdict.reason = note or (v.message if v.kind == "error" else "")
            break
        verdict.excused = self._excused(claim)

    def _hypothesis(self, verdict: PropertyVerdict, profile: str, seed: int | None):
        """One hypothesis search: (the minimal unexcused failure, a note) or None; a verdict
        that needs no counterexample (not applicable, a hang) is written into ``verdict``."""
        prop, caps = self.prop, self.adapter.capabilities
        unsupported: list[str] = []
        not_applicable: list[str] = []

        def body(case):
            if not_applicable:  # decided once: end the run at once (hypothesis stops on the error)
                raise NotApplicable(not_applicable[0])
            try:
                self._run_one(case)
            except NotApplicable as exc:
                not_applicable.append(str(exc))
                raise
            except UnsupportedCase as exc:
                unsupported.append(str(exc))
                reject()

        test = given(prop.strategy(caps))(body)
        for case in reversed(prop.explicit(caps)):
            test = hypothesis_example(case)(test)
        test = hypothesis_settings(profile, prop.cost, seeded=seed is not None)(test)
        if seed is not None:
            test = hypothesis_seed(seed)(test)
        try:
            test()
        except Violation as v:
            return v, ""
        except NotApplicable as exc:
            verdict.verdict, verdict.reason = "not-applicable", str(exc)
        except Unsatisfiable:
            verdict.verdict = "not-applicable"
            verdict.reason = unsupported[-1] if unsupported else "no case this adapter can run"
        except Exception as exc:
            leaf = _leaf(exc)
            if isinstance(leaf, NotApplicable):
                verdict.verdict, verdict.reason = "not-applicable", str(leaf)
            elif isinstance(leaf, Violation):  # several distinct failures, or a flaky one
                if isinstance(exc, FlakyFailure):
                    return leaf, "the failure did not reproduce on every replay (flaky implementation?)"
                n = len(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else 1
                return leaf, f"{n} distinct failures; the first is shown"
            else:  # a hang, or hypothesis itself refused
                verdict.verdict = "error"
                verdict.reason = f"{prop.clause}: {type(leaf).__name__}: {leaf}".strip()[:500]
        return None


def _counterexample(prop: Property, adapter_name: str, v: Violation, claim=None,
                    replayable: bool = True, replay_dir: Path | None = None) -> Counterexample:
    """The report of one failure, filed under the clause it refutes; ``replayable=False`` is the
    cheap form that deviation entries are matched against during a search (no replay made)."""
    case = v.case
    params = case.params if case is not None else []
    hyper = None
    if params:  # the hyperparameters in force at the failing step (GRP-4), where the violation says which
        hyper = (case.hypers if v.index is None else case.hypers_at(v.index))[v.param or 0]
    layout = ""
    if v.param is None:  # an error: no offending parameter, so 0-d only if every one is
        zero_dim = bool(params) and all(np.ndim(p.init) == 0 for p in params)
    else:
        zero_dim = bool(params) and np.ndim(params[v.param].init) == 0
        layout = params[v.param].layout if params else ""
    replay = ""
    if replayable and case is not None:
        from adamspec.conformance.replay import replay_command

        replay = replay_command(prop.name, adapter_name, case, claim, replay_dir)
    return Counterexample(
        clause=v.clause, requirement=spec.clause(v.clause).requirement, adapter=adapter_name,
        message=v.message,
        hyper={} if hyper is None else {k: (getattr(hyper, k).value if k == "mode" else getattr(hyper, k))
                                        for k in hyper.__dataclass_fields__},
        storage=case.dtype if params else "",
        step=v.step, elements=_elements(v) if replayable else v.elements,
        case_json=case.to_json() if case is not None and replayable else "",
        replay=replay, kind=v.kind, row=v.row, zero_dim=zero_dim, layout=layout,
    )


def _elements(v: Violation) -> tuple:
    """The report rows of a failure: its own, or those of the judged step it carries."""
    if v.elements or v.evidence is None:
        return v.elements
    from adamspec.conformance.elements import worst_elements

    return worst_elements(v.evidence)


def run(adapter: Adapter, profile: str = "ci", seed: int | None = None,
        clauses: Iterable[str] | None = None, max_failures: int | None = None,
        progress: Callable[[Property, PropertyVerdict | None], None] | None = None,
        deviations: Sequence[Deviation] | None = None, example_timeout: float | None = 60.0,
        replay_dir: Path | None = None) -> RunResult:
    """Run every selected property; stop early after ``max_failures`` failing properties.

    ``deviations`` (default: the built-in known deviations) excuse exactly the failures they
    name; entries that excused nothing where their clause was checked become warnings.
    """
    deviations = _deviations.builtin() if deviations is None else list(deviations)
    result = RunResult(adapter.capabilities.name, adapter.capabilities.as_dict(), profile,
                       seed if seed is not None else 0, environment(profile, seed))
    start = time.perf_counter()
    failures = 0
    try:
        for prop in select(clauses):
            if progress:
                progress(prop, None)
            v = run_property(prop, adapter, profile, seed, example_timeout, deviations, replay_dir)
            result.verdicts.append(v)
            if progress:
                progress(prop, v)
            failures += v.verdict == "fail"
            if max_failures is not None and failures >= max_failures:
                break
    finally:
        result.seconds = time.perf_counter() - start
    result.warnings += _deviations.stale(deviations, result.adapter, result.verdicts)
    if any(v.property == "agreement_one_step" and v.verdict == "fail" and not v.excused for v in result.verdicts):
        hint = nearest_variant(adapter)
        if hint:
            result.warnings.append(hint)
    return result


def nearest_variant(adapter) -> str | None:
    """When the step itself disagrees (AD-1 …): the variant or mode the results fit instead, found
    by ``adamspec identify`` (seconds), as a hint naming the clause — or None when none fits."""
    from adamspec.conformance.identify import identify
    from adamspec.reference.hyper import KNOBS

    try:
        r = identify(adapter)
    except Exception:  # noqa: BLE001 - a hint only; the verdicts already say what failed
        return None
    if r.variant is None:
        return None
    hints = []
    if r.variant != adapter.capabilities.variant:
        knobs = ", ".join(f"{k} = {v!r} ({KNOBS[k].clause})" for k, v in r.variant.departures().items())
        hints.append(f"the variant {knobs or 'canonical'}: declare it (VAR-1)")
    if r.computes is not None and r.computes != r.mode:
        clause = "L2-1" if r.computes == "adam_l2" else "AW-1"
        hints.append(f"mode {r.computes} ({clause}), not {r.mode}: claim that mode")
    if not hints:
        return None
    return "the results fit " + "; and ".join(hints) + ", or fix the implementation (adamspec identify)"
