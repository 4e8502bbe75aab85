"""Known deviations: entries that excuse one named departure of an implementation, and only it.

An entry names the clause a failure refutes (the one requirement sentence it violates, which
every failure carries), an adapter glob, and optionally a property, a row of an enumerated
table and conditions on the offending inputs. It never matches on the clauses a property
lists: a property checks many clauses, and an entry for one of them must not excuse the
others. The runner goes on searching past an excused failure (runner.py), so a new bug
behind an old excuse is still found and shown with its own counterexample.

An entry that excused nothing in a run where a property checking its clause passed is stale
(fixed upstream?), and ``stale`` is the one rule for it, used by the CLI, ``adamspec.check`` and the
pytest plugin alike. The built-in file lists deviations of the built-in adapters, each
confirmed in plain framework code (README "Known deviations").
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from adamspec.conformance.results import Counterexample, InputKind, PropertyVerdict

_KEYS = {"adapter", "clause", "reason", "property", "row", "storage", "zero_dim", "layout", "lr_zero", "model"}


@dataclass(frozen=True)
class Deviation:
    """One known departure; ``covers`` says whether a failure is exactly it."""

    adapter: str  # fnmatch pattern over adapter names, e.g. "torch.*.fused"
    clause: str  # the refuted clause, or "*" with an input condition below
    reason: str
    property: str = ""  # only failures of this property (a clause can be refuted by several)
    row: str = ""  # only this row of an enumerated table, e.g. "lr=inf" (SPEC VAL-*)
    storage: str = ""  # only failures with this storage dtype
    zero_dim: bool = False  # only failures of a 0-d parameter
    layout: str = ""  # only failures of a parameter in this memory layout ("strided", "transposed")
    lr_zero: bool = False  # only failures of a step taken at lr = 0 (a warm-up's first step)
    # only failures whose offending steps are exactly this behaviour (deviation_models.MODELS),
    # checked on what the implementation stored: a second bug on the same inputs is not excused
    model: str = ""
    origin: str = ""  # the file it came from

    def covers(self, adapter: str, prop: str, cx: Counterexample) -> bool:
        """Whether the entry's keys name this failure; an entry with a model must also be checked
        against the run (``excusing``)."""
        return (fnmatch.fnmatchcase(adapter, self.adapter)
                and self.clause in ("*", cx.clause)
                and self.property in ("", prop)
                and self.row in ("", cx.row)
                and self.fits(InputKind(cx.storage, cx.zero_dim, cx.layout, cx.hyper.get("lr") == 0.0)))

    def may_apply(self, adapter: str, v: PropertyVerdict) -> bool:
        """Whether the property would have shown this deviation: it checks the clause, its
        search ran to the end (a failure ends a search early, so it cannot vouch for absence),
        and, for an entry keyed by inputs, some example held such an input (a run restricted
        to float32, or to clauses that never draw a 0-d parameter, says nothing of it), one on
        which the entry's model, where it has a trigger, would show its deviation."""
        from adamspec.conformance.deviation_models import TRIGGERS

        reached = (lambda k: self.model in k.reaches) if self.model in TRIGGERS else (lambda k: True)
        return (fnmatch.fnmatchcase(adapter, self.adapter) and v.verdict == "pass"
                and self.property in ("", v.property) and (self.clause == "*" or self.clause in v.clauses)
                and (not (self.keyed_by_input() or self.model in TRIGGERS)
                     or any(self.fits(k) and reached(k) for k in v.inputs)))

    def keyed_by_input(self) -> bool:
        return bool(self.storage or self.zero_dim or self.layout or self.lr_zero)

    def fits(self, k: InputKind) -> bool:
        """Whether an input of this kind meets the entry's input conditions."""
        return (self.storage in ("", k.storage) and (not self.zero_dim or k.zero_dim)
                and self.layout in ("", k.layout) and (not self.lr_zero or k.lr_zero))

    def label(self) -> str:
        conditions = [c for c in (self.row, "0-d" if self.zero_dim else "", self.layout, self.storage,
                                  "lr = 0" if self.lr_zero else "") if c]
        model = f" ({self.model.replace('_', ' ')})" if self.model else ""
        if self.clause == "*":
            return " ".join(conditions) + " parameters" + model
        return " ".join([self.clause, *conditions]) + model


def parse(text: str, origin: str = "<deviations>") -> list[Deviation]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{origin}: not valid TOML: {exc}") from None
    out = []
    for i, entry in enumerate(data.get("deviation", [])):
        where = f"{origin}: [[deviation]] #{i + 1}"
        missing = {"clause", "reason"} - set(entry)
        if missing:
            raise ValueError(f"{where} lacks {sorted(missing)}")
        unknown = set(entry) - _KEYS
        if unknown:  # a misspelt condition would silently widen the entry
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_KEYS)}")
        d = Deviation(adapter=entry.get("adapter", "*"), clause=entry["clause"].upper(), reason=entry["reason"],
                      property=entry.get("property", ""), row=entry.get("row", ""),
                      storage=entry.get("storage", ""), zero_dim=bool(entry.get("zero_dim", False)),
                      layout=entry.get("layout", ""), lr_zero=bool(entry.get("lr_zero", False)),
                      model=entry.get("model", ""), origin=origin)
        from adamspec.conformance.deviation_models import MODELS

        if d.model and d.model not in MODELS:
            raise ValueError(f"{where}: unknown model {d.model!r}; known: {sorted(MODELS)}")
        if d.clause == "*" and not d.keyed_by_input():
            raise ValueError(f"{where}: clause = \"*\" needs a condition on the offending inputs "
                             "(storage, zero_dim, layout and/or lr_zero), else it would excuse everything")
        if d.clause != "*":
            from adamspec import spec

            try:
                spec.clause(d.clause)
            except KeyError:
                raise ValueError(f"{where}: no clause {d.clause} in SPEC {spec.spec_version()}") from None
        out.append(d)
    return out


def load(path: str | Path) -> list[Deviation]:
    path = Path(path)
    return parse(path.read_text(encoding="utf-8"), str(path))


def builtin() -> list[Deviation]:
    text = resources.files(__package__).joinpath("known_deviations.toml").read_text(encoding="utf-8")
    return parse(text, "known_deviations.toml")


def input_kinds(case, reaches: bool = True) -> set[InputKind]:
    """The kinds of input one example holds, per parameter (what ``may_apply`` looks for); with
    ``reaches``, the models whose trigger the parameter's steps meet."""
    if case is None or not case.params:
        return set()
    from adamspec.conformance.deviation_models import TRIGGERS

    lr_zero = any(h.lr == 0.0 for k in range(max(1, len(case.grads))) for h in case.hypers_at(k))
    return {InputKind(case.dtype, np.ndim(p.init) == 0, p.layout, lr_zero,
                      frozenset(name for name, hit in TRIGGERS.items() if reaches and hit(case, i)))
            for i, p in enumerate(case.params)}


def excusing(deviations: Iterable[Deviation], adapter: str, prop: str, cx: Counterexample,
             modelled: Callable[[Deviation], bool] | None = None) -> Deviation | None:
    """The first entry that names exactly this failure, or None. ``modelled(entry)`` checks an
    entry's model on the example's run; without it an entry with a model excuses nothing."""
    return next((d for d in deviations if d.covers(adapter, prop, cx)
                 and (not d.model or (modelled is not None and modelled(d)))), None)


def stale(deviations: Iterable[Deviation], adapter: str, verdicts: Iterable[PropertyVerdict]) -> list[str]:
    """Warnings for entries that excused nothing although a property that checks their clause ran."""
    verdicts = list(verdicts)
    used = {(x.label, x.reason) for v in verdicts for x in v.excused}
    return [f"known deviation {d.label()} on {d.adapter} excused nothing (fixed?): {d.reason}"
            for d in deviations
            if (d.label(), d.reason) not in used and any(d.may_apply(adapter, v) for v in verdicts)]
