"""A case: everything one conformance example feeds an implementation, as a frozen value.

Cases serialise to JSON with every float as its exact bit pattern, so a counterexample
replays bit for bit whatever hypothesis version drew it (``adamspec replay``).

Format ``adamspec-case/2`` added ``args`` (a property's own drawn values, typed); a
``adamspec-case/1`` payload still reads, its two old ``note`` channels (``scale=…``,
``must_reject=…``) becoming ``args``. ``adamspec-case/3`` added ``schedule`` (the
hyperparameters in force at each step, SPEC GRP-4) and ``resume_at`` (SPEC STATE-6); older
payloads read as constant hyperparameters and no resumption.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from adamspec.adapters.base import GroupSpec, ParamState
from adamspec.reference.floats import float_format, from_bits, to_bits
from adamspec.reference.hyper import Hyper

LAYOUTS = ("contiguous", "transposed", "strided")
FORMAT = "adamspec-case/3"
_READS = ("adamspec-case/1", "adamspec-case/2", FORMAT)
# What a schedule may change between steps (SPEC GRP-4); the mode, amsgrad and maximize stay.
SCHEDULED = ("lr", "beta1", "beta2", "eps", "weight_decay")


@dataclass(frozen=True)
class ParamCase:
    init: np.ndarray  # initial values in the storage dtype, logical shape
    layout: str = "contiguous"
    state: ParamState | None = None  # injected before the first step (SPEC STATE-3)


@dataclass(frozen=True)
class GroupCase:
    hyper: Hyper
    params: tuple[ParamCase, ...]


@dataclass(frozen=True)
class Case:
    """Parameter groups, their initial values and state, and the gradient of every step.

    ``grads[k][i]`` is parameter i's gradient at step k (parameters numbered across groups
    in order); ``None`` means the parameter has no gradient at that step (SPEC NOGRAD-1).
    ``note`` is for people only; ``args`` holds what a property draws beside the optimizer's
    inputs (scale_invariance's ``scale``, validation's ``must_reject`` row), serialised exactly.

    ``schedule[k][j]`` is group j's hyperparameters at step k (SPEC GRP-4), empty when they stay
    the groups' own throughout; ``schedule[0]`` is the groups' own. ``resume_at = k`` saves the
    state after step k (k ≥ 1) and resumes in a fresh instance (SPEC STATE-6).
    """

    groups: tuple[GroupCase, ...]
    grads: tuple[tuple[np.ndarray | None, ...], ...]
    note: str = ""
    args: Mapping[str, float | int | str] = field(default_factory=dict)
    schedule: tuple[tuple[Hyper, ...], ...] = ()
    resume_at: int | None = None

    def __post_init__(self):
        if self.schedule:
            if len(self.schedule) != len(self.grads) or any(len(s) != len(self.groups) for s in self.schedule):
                raise ValueError("a schedule holds one Hyper per group for every step")
            for j, g in enumerate(self.groups):
                if self.schedule[0][j] != g.hyper:
                    raise ValueError("schedule[0] must be the groups' own hyperparameters")
                fixed = {(h.mode, h.amsgrad, h.maximize) for h in (s[j] for s in self.schedule)}
                if len(fixed) != 1:
                    raise ValueError("a schedule changes only " + ", ".join(SCHEDULED))
        if self.resume_at is not None and not 1 <= self.resume_at < len(self.grads):
            raise ValueError(f"resume_at must lie between 1 and {len(self.grads) - 1}, got {self.resume_at}")

    @property
    def params(self) -> list[ParamCase]:
        return [p for g in self.groups for p in g.params]

    @property
    def hypers(self) -> list[Hyper]:
        """The hyperparameters of each parameter at the first step, in parameter order."""
        return [g.hyper for g in self.groups for _ in g.params]

    def group_hypers_at(self, k: int) -> tuple[Hyper, ...]:
        """Each group's hyperparameters in force at step k (0-based)."""
        return self.schedule[k] if self.schedule else tuple(g.hyper for g in self.groups)

    def hypers_at(self, k: int) -> list[Hyper]:
        """Each parameter's hyperparameters in force at step k (0-based), in parameter order."""
        return [h for h, g in zip(self.group_hypers_at(k), self.groups) for _ in g.params]

    @property
    def dtype(self) -> str:
        return float_format(self.params[0].init.dtype).name

    def group_specs(self) -> list[GroupSpec]:
        return [GroupSpec(g.hyper, tuple(p.init for p in g.params), tuple(p.layout for p in g.params))
                for g in self.groups]

    def states(self) -> list[ParamState | None]:
        return [p.state for p in self.params]

    def with_hyper(self, **changes) -> Case:
        """The same case with ``changes`` made to every group's hyperparameters."""
        return replace(self, groups=tuple(GroupCase(replace(g.hyper, **changes), g.params) for g in self.groups),
                       schedule=tuple(tuple(replace(h, **changes) for h in step) for step in self.schedule))

    # --- exact serialisation -------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(_case_to_obj(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Case:
        return _case_from_obj(json.loads(text))


def _arr_to_obj(a):
    if a is None:
        return None
    a = np.asarray(a)
    fmt = float_format(a.dtype)
    bits = to_bits(np.ascontiguousarray(a)).reshape(-1)
    return {"dtype": fmt.name, "shape": list(a.shape), "bits": [f"{int(b):x}" for b in bits]}


def _arr_from_obj(o):
    if o is None:
        return None
    bits = np.array([int(b, 16) for b in o["bits"]], dtype=np.uint64)
    return from_bits(bits, o["dtype"]).reshape(o["shape"]).copy()


def _state_to_obj(st: ParamState | None):
    if st is None:
        return None
    return {"theta": _arr_to_obj(st.theta), "m": _arr_to_obj(st.m), "v": _arr_to_obj(st.v),
            "vmax": _arr_to_obj(st.vmax), "step": st.step}


def _state_from_obj(o):
    if o is None:
        return None
    return ParamState(_arr_from_obj(o["theta"]), _arr_from_obj(o["m"]), _arr_from_obj(o["v"]),
                      _arr_from_obj(o["vmax"]), o["step"])


def _hyper_to_obj(h: Hyper) -> dict:
    d = asdict(h)
    d["mode"] = h.mode.value
    for k in ("lr", "beta1", "beta2", "eps", "weight_decay"):
        d[k] = float.hex(d[k])  # the exact binary64 value
    return d


def _hyper_from_obj(d: dict) -> Hyper:
    d = dict(d)
    for k in ("lr", "beta1", "beta2", "eps", "weight_decay"):
        d[k] = float.fromhex(d[k])
    return Hyper(**d)


def _args_to_obj(args: Mapping) -> dict:
    out = {}
    for k, v in args.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise TypeError(f"case argument {k!r}: {type(v).__name__} is not a float, int or str")
        out[k] = {"float": float.hex(v)} if isinstance(v, float) else {type(v).__name__: v}
    return out


def _args_from_obj(o: dict) -> dict:
    out = {}
    for k, tv in o.items():
        ((kind, v),) = tv.items()
        out[k] = {"float": float.fromhex, "int": int, "str": str}[kind](v)
    return out


_OLD_NOTE_ARGS = {"scale=": ("scale", float), "must_reject=": ("must_reject", str)}


def _v1_note(note: str) -> tuple[str, dict]:
    """An adamspec-case/1 note that carried a property's value: (note, args)."""
    for prefix, (key, kind) in _OLD_NOTE_ARGS.items():
        if note.startswith(prefix):
            return "", {key: kind(note.removeprefix(prefix))}
    return note, {}


def _case_to_obj(case: Case) -> dict:
    return {
        "format": FORMAT,
        "note": case.note,
        "args": _args_to_obj(case.args),
        "groups": [{"hyper": _hyper_to_obj(g.hyper),
                    "params": [{"init": _arr_to_obj(p.init), "layout": p.layout,
                                "state": _state_to_obj(p.state)} for p in g.params]}
                   for g in case.groups],
        "grads": [[_arr_to_obj(g) for g in step] for step in case.grads],
        "schedule": [[_hyper_to_obj(h) for h in step] for step in case.schedule],
        "resume_at": case.resume_at,
    }


def _case_from_obj(o: dict) -> Case:
    if o.get("format") not in _READS:
        raise ValueError(f"not an adamspec case (format {o.get('format')!r})")
    groups = tuple(
        GroupCase(_hyper_from_obj(g["hyper"]),
                  tuple(ParamCase(_arr_from_obj(p["init"]), p["layout"], _state_from_obj(p["state"]))
                        for p in g["params"]))
        for g in o["groups"])
    grads = tuple(tuple(_arr_from_obj(g) for g in step) for step in o["grads"])
    if o["format"] == "adamspec-case/1":
        note, args = _v1_note(o.get("note", ""))
    else:
        note, args = o.get("note", ""), _args_from_obj(o.get("args", {}))
    schedule = tuple(tuple(_hyper_from_obj(h) for h in step) for step in o.get("schedule", []))
    return Case(groups, grads, note, args, schedule, o.get("resume_at"))
