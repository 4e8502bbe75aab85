"""pytest plugin (entry point ``pytest11``): the conformance properties as pytest tests.

    pytest --pyargs adamspec.conformance --adapter torch.adamw.fused
    pytest --pyargs adamspec.conformance --adapter mypkg.optim:MyAdamW --claim adamw

Test ids show property, clause and adapter: ``test_uniform_decay[AW-3-torch.adamw.fused]``.
"""

from __future__ import annotations

import os
import warnings

import pytest

_ENV = "ADAMSPEC_ADAPTER"


def pytest_addoption(parser):
    group = parser.getgroup("adamspec", "Adam-family conformance (adamspec)")
    group.addoption("--adapter", action="append", default=[], metavar="NAME",
                    help=f"adapter to check (repeatable): built-in name or package.module:attr; "
                         f"falls back to ${_ENV}")
    group.addoption("--claim", choices=("adam", "adam_l2", "adamw"),
                    help="the mode an optimizer class claims to compute")
    group.addoption("--adamspec-profile", choices=("ci", "default", "thorough"), default="ci")
    group.addoption("--adamspec-seed", type=int, default=None, help="hypothesis seed")
    group.addoption("--adamspec-deviations", "--adamspec-xfails", dest="adamspec_deviations", metavar="FILE",
                    action="append", default=[],
                    help="known deviations (TOML [[deviation]] entries), beside the built-in ones; each "
                         "excuses exactly the failure it names (repeatable)")


def _adapter_names(config) -> list[str]:
    names = list(config.getoption("--adapter") or [])
    if not names and os.environ.get(_ENV):
        names = [n for n in os.environ[_ENV].split(",") if n.strip()]
    return names


class _State:
    """Adapters loaded once per session, the known deviations, and the verdicts seen."""

    def __init__(self, config):
        from adamspec.adapters.registry import UsageError, load_adapter, unavailable_reason
        from adamspec.conformance import deviations as dev

        self.adapters = {}
        for name in _adapter_names(config):
            try:
                self.adapters[name] = load_adapter(name, config.getoption("--claim"))
            except UsageError as exc:
                raise pytest.UsageError(f"adamspec: {exc}") from None
            why = unavailable_reason(self.adapters[name])
            if why:
                raise pytest.UsageError(f"adamspec: adapter {name} cannot run here: {why}")
        self.deviations = dev.builtin()
        for path in config.getoption("adamspec_deviations"):
            try:
                self.deviations += dev.load(path)
            except (OSError, ValueError) as exc:
                raise pytest.UsageError(f"adamspec: cannot read known deviations {path}: {exc}") from None
        self.verdicts: dict[str, list] = {a.capabilities.name: [] for a in self.adapters.values()}


def pytest_configure(config):
    config.addinivalue_line("markers", "adamspec_clause(id): the SPEC clauses a conformance test checks")
    if _adapter_names(config):
        config._adamspec = _State(config)


def pytest_report_header(config):
    state = getattr(config, "_adamspec", None)
    if state is None:
        return None
    import adamspec
    from adamspec.conformance.runner import environment

    env = environment(config.getoption("--adamspec-profile"), config.getoption("--adamspec-seed"))
    lines = [f"adamspec {adamspec.__version__}, SPEC {adamspec.spec_version()}, profile "
             f"{env['profile']}, seed {env['seed']}, torch {env.get('torch', 'not loaded')}"]
    for name, a in state.adapters.items():
        caps = a.capabilities.as_dict()
        lines.append(f"adapter {name}: modes {caps['modes']}, dtypes {caps['dtypes']}, "
                     f"compute {caps['compute']}, variant {caps['variant']}")
    return lines


def pytest_generate_tests(metafunc):
    if "adamspec_adapter" not in metafunc.fixturenames:
        return
    state = getattr(metafunc.config, "_adamspec", None)
    if state is None:
        raise pytest.UsageError(f"adamspec: name an adapter with --adapter NAME (or ${_ENV})")
    prop = metafunc.function.adamspec_property
    metafunc.parametrize("adamspec_adapter", list(state.adapters.values()),
                         ids=[f"{prop.clause}-{n}" for n in state.adapters])


def run_as_test(prop, adapter, config):
    """Run one property against one adapter and turn the verdict into a pytest outcome: a
    failure fails (with every known deviation it also showed), a property whose only failures
    are known deviations is an xfail naming them."""
    from adamspec.conformance.report_text import counterexample_text, excused_text
    from adamspec.conformance.runner import run_property

    state = config._adamspec
    v = run_property(prop, adapter, config.getoption("--adamspec-profile"), config.getoption("--adamspec-seed"),
                     deviations=state.deviations)
    state.verdicts[adapter.capabilities.name].append(v)
    if v.verdict == "not-applicable":
        pytest.skip(f"not applicable: {v.reason}")
    excused = [excused_text(x) for x in v.excused]
    if v.verdict in ("fail", "error"):
        head = f"{prop.clause} {prop.name}: the implementation raised: {v.reason}" if v.verdict == "error" \
            else v.reason
        parts = [p for p in (head, *(counterexample_text(cx) for cx in v.failures), *excused) if p]
        pytest.fail("\n\n".join(parts), pytrace=False)
    if v.excused:
        pytest.xfail("; ".join(f"known deviation {x.label}: {x.reason}" for x in v.excused))


def _stale(config) -> list[str]:
    from adamspec.conformance import deviations as dev

    state = getattr(config, "_adamspec", None)
    if state is None:
        return []
    return [w for name, verdicts in state.verdicts.items() for w in dev.stale(state.deviations, name, verdicts)]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    stale = _stale(config)
    if stale:
        terminalreporter.section("adamspec: known deviations that excused nothing")
        for w in stale:
            terminalreporter.line(f"warning: {w}")


def pytest_sessionfinish(session):
    for w in _stale(session.config):
        warnings.warn(f"adamspec: {w}", stacklevel=1)
