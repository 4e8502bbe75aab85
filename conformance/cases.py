"""A case: everything one conformance example feeds an implementation, as a frozen value.

Cases serialise to JSON with every float as its exact bit pattern, so a counterexample
replays bit for bit whatever hypothesis version drew it (``adamspec replay``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from adamspec.adapters.base import GroupSpec, ParamState
from adamspec.reference.floats import float_format, from_bits, to_bits
from adamspec.reference.hyper import Hyper

LAYOUTS = ("contiguous", "transposed", "strided")


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
    """

    groups: tuple[GroupCase, ...]
    grads: tuple[tuple[np.ndarray | None, ...], ...]
    note: str = ""
    extras: dict = field(default_factory=dict, compare=False)

    @property
    def params(self) -> list[ParamCase]:
        return [p for g in self.groups for p in g.params]

    @property
    def hypers(self) -> list[Hyper]:
        """The hyperparameters of each parameter, in parameter order."""
        return [g.hyper for g in self.groups for _ in g.params]

    @property
    def dtype(self) -> str:
        return float_format(self.params[0].init.dtype).name

    def group_specs(self) -> list[GroupSpec]:
        return [GroupSpec(g.hyper, tuple(p.init for p in g.params), tuple(p.layout for p in g.params))
                for g in self.groups]

    def states(self) -> list[ParamState | None]:
        return [p.state for p in self.params]

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


def _case_to_obj(case: Case) -> dict:
    return {
        "format": "adamspec-case/1",
        "note": case.note,
        "groups": [{"hyper": _hyper_to_obj(g.hyper),
                    "params": [{"init": _arr_to_obj(p.init), "layout": p.layout,
                                "state": _state_to_obj(p.state)} for p in g.params]}
                   for g in case.groups],
        "grads": [[_arr_to_obj(g) for g in step] for step in case.grads],
    }


def _case_from_obj(o: dict) -> Case:
    if o.get("format") != "adamspec-case/1":
        raise ValueError(f"not an adamspec case (format {o.get('format')!r})")
    groups = tuple(
        GroupCase(_hyper_from_obj(g["hyper"]),
                  tuple(ParamCase(_arr_from_obj(p["init"]), p["layout"], _state_from_obj(p["state"]))
                        for p in g["params"]))
        for g in o["groups"])
    grads = tuple(tuple(_arr_from_obj(g) for g in step) for step in o["grads"])
    return Case(groups, grads, o.get("note", ""))
