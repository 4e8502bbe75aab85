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
from collections.abc import Callable, Iterable

import numpy as np
from hypothesis import example as hypothesis_example
from hypothesis import given, reject
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import FlakyFailure, Unsatisfiable

import adamspec
from adamspec import spec
from adamspec.adapters.base import Adapter, NotApplicable, UnsupportedCase
from adamspec.conformance import properties as _properties  # noqa: F401 - registers them
from adamspec.conformance.profiles import hypothesis_settings
from adamspec.conformance.registry import PROPERTIES, Collector, Property, Violation
from adamspec.conformance.results import Counterexample, PropertyVerdict, RunResult


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
    if not clauses:
        return list(PROPERTIES.values())
    wanted = {c.upper() for c in clauses}
    unknown = wanted - {c.id for c in spec.clauses()}
    if unknown:
        raise KeyError(f"no such clause(s) in SPEC {spec.spec_version()}: {sorted(unknown)}")
    return [p for p in PROPERTIES.values() if wanted & set(p.clauses)]




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


def run_property(prop: Property, adapter: Adapter, profile: str = "ci",
                 seed: int | None = None, example_timeout: float | None = 60.0) -> PropertyVerdict:
    caps = adapter.capabilities
    c = spec.clause(prop.clause)
    verdict = PropertyVerdict(prop.name, prop.clause, prop.clauses, c.title)
    reason = prop.needs(caps)
    if reason:
        verdict.verdict, verdict.reason = "not-applicable", reason
        return verdict
    warm_up = getattr(adapter, "warm_up", None)
    if callable(warm_up):  # one-time set-up (a compile) outside every example's time limit
        try:
            warm_up()
        except Exception as exc:
            verdict.verdict = "error"
            verdict.reason = f"{prop.clause}: the adapter's warm-up failed: {type(exc).__name__}: {exc}"[:500]
            return verdict
    collector = Collector()
    unsupported: list[str] = []
    hung: list[str] = []

    not_applicable: list[str] = []

    def body(case):
        if not_applicable:  # decided once: end the run at once (hypothesis stops on the error)
            raise NotApplicable(not_applicable[0])
        collector.examples += 1
        try:
            _bounded(lambda: prop.check(adapter, case, collector), example_timeout, hung)
        except NotApplicable as exc:
            not_applicable.append(str(exc))
            raise
        except UnsupportedCase as exc:
            unsupported.append(str(exc))
            reject()
        except Violation as v:
            if v.case is None:
                v.case = case
            raise

    test = given(prop.strategy(caps))(body)
    for case in reversed(prop.explicit(caps)):
        test = hypothesis_example(case)(test)
    test = hypothesis_settings(profile, prop.cost, seeded=seed is not None)(test)
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    start = time.perf_counter()
    try:
        test()
    except Violation as v:
        verdict.verdict = "fail"
        verdict.counterexample = _counterexample(prop, caps.name, v, getattr(adapter, "claim", None))
    except NotApplicable as exc:
        verdict.verdict, verdict.reason = "not-applicable", str(exc)
    except Unsatisfiable:
        verdict.verdict = "not-applicable"
        verdict.reason = unsupported[-1] if unsupported else "no case this adapter can run"
    except Exception as exc:  # the implementation raised: an error naming the property
        leaf = _leaf(exc)
        if isinstance(leaf, NotApplicable):
            verdict.verdict, verdict.reason = "not-applicable", str(leaf)
        elif isinstance(leaf, Violation):  # several distinct failures, or a flaky one
            verdict.verdict = "fail"
            verdict.counterexample = _counterexample(prop, caps.name, leaf, getattr(adapter, "claim", None))
            if isinstance(exc, FlakyFailure):
                verdict.reason = "the failure did not reproduce on every replay (flaky implementation?)"
            else:
                n = len(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else 1
                verdict.reason = f"{n} distinct failures; the first is shown"
        else:
            verdict.verdict = "error"
            verdict.reason = f"{prop.clause}: {type(leaf).__name__}: {leaf}".strip()[:500]
    verdict.seconds = time.perf_counter() - start
    verdict.examples = collector.examples
    verdict.max_bound_fraction = collector.max_fraction
    verdict.max_ulp = collector.max_ulp
    verdict.exempt_elements = collector.exempt
    return verdict


def _counterexample(prop: Property, adapter_name: str, v: Violation, claim=None) -> Counterexample:
    from adamspec.conformance.replay import replay_command

    case = v.case
    hyper = case.hypers[v.param] if case is not None and case.params else None
    return Counterexample(
        clause=prop.clause, requirement=spec.clause(prop.clause).requirement, adapter=adapter_name,
        message=v.message,
        hyper={} if hyper is None else {k: (getattr(hyper, k).value if k == "mode" else getattr(hyper, k))
                                        for k in hyper.__dataclass_fields__},
        storage=case.dtype if case is not None and case.params else "",
        step=v.step, elements=v.elements,
        case_json=case.to_json() if case is not None else "",
        replay=replay_command(prop.name, adapter_name, case, claim) if case is not None else "",
    )


def run(adapter: Adapter, profile: str = "ci", seed: int | None = None,
        clauses: Iterable[str] | None = None, max_failures: int | None = None,
        progress: Callable[[Property, PropertyVerdict | None], None] | None = None,
        expectations: list | None = None, example_timeout: float | None = 60.0) -> RunResult:
    """Run every selected property; stop early after ``max_failures`` failures.

    ``expectations`` (default: the built-in known deviations) mark covered failures as
    expected; stale entries become warnings on the result.
    """
    from adamspec.conformance import expectations as _exp

    result = RunResult(adapter.capabilities.name, adapter.capabilities.as_dict(), profile,
                       seed if seed is not None else 0, environment(profile, seed))
    start = time.perf_counter()
    try:
        _run_into(result, adapter, profile, seed, clauses, max_failures, progress, example_timeout)
    finally:
        result.seconds = time.perf_counter() - start
    result.warnings += _exp.apply(result, _exp.builtin() if expectations is None else expectations)
    return result


def _run_into(result, adapter, profile, seed, clauses, max_failures, progress, example_timeout) -> None:
    failures = 0
    for prop in select(clauses):
        if progress:
            progress(prop, None)
        v = run_property(prop, adapter, profile, seed, example_timeout)
        result.verdicts.append(v)
        if progress:
            progress(prop, v)
        failures += v.verdict == "fail"
        if max_failures is not None and failures >= max_failures:
            break
