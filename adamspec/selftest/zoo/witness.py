"""Witnesses replayed with plain torch: a small concrete input on which a zoo member and the
correct control visibly disagree, observed as a user could (values, state keys and dtypes, step
counts, whether the gradient changed or the parameter moved, the error raised). No adamspec
property is involved, so a mutant the suite lets through is a gap of the suite, not of the zoo.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from adamspec.adapters.base import ParamState
from adamspec.adapters.torch_optim import inject_state
from adamspec.selftest.zoo.reference_adam import control_for

if TYPE_CHECKING:
    from adamspec.selftest.zoo.catalogue import Mutant


def hyper_kwargs(lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False):
    """A witness group's constructor keywords (torch's), with the zoo's defaults."""
    return dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                maximize=maximize)


_TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16,
                 "float16": torch.float16}


def _construct(cls, witness: dict) -> dict:
    """Constructing ``cls`` with bad hyperparameters: was it rejected, and did it say why?"""
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    try:
        cls([p], **hyper_kwargs(**witness["construct"]))
    except ValueError as exc:
        msg, bad = str(exc), witness["value"]
        return {"raised": "ValueError", "names": witness["name"] in msg,
                "shows_value": repr(bad) in msg or str(bad) in msg}
    except Exception as exc:  # noqa: BLE001 - any other exception is an observation too
        return {"raised": type(exc).__name__, "names": False, "shows_value": False}
    return {"raised": None, "names": False, "shows_value": False}


def observe(cls, witness: dict) -> dict:
    """Run ``cls`` on a witness and record what a user could observe afterwards.

    Witness keys: ``construct`` (hyperparameters to construct with, ``name`` the one expected
    in the error), or ``dtype``, ``groups`` (each ``hyper`` — constructor keywords — and
    ``params``, each ``theta`` and an optional injected ``state`` with m, v, vmax, step) and
    ``grads`` (per step, one gradient or None per parameter, in parameter order); optionally
    ``lr_at`` (the lr written into every group before each step, as a scheduler does) and
    ``resume_at`` (after that many steps: ``state_dict`` through ``torch.save``, a fresh
    optimizer of the same class with other defaults over fresh parameters, ``load_state_dict``).
    """
    if "construct" in witness:
        return {"construct": _construct(cls, witness)}
    dt = _TORCH_DTYPES[witness["dtype"]]
    params, groups = [], []
    for g in witness["groups"]:
        ps = [torch.nn.Parameter(torch.tensor(p["theta"], dtype=dt)) for p in g["params"]]
        params += ps
        groups.append({"params": ps, **g["hyper"]})
    opt = cls(groups)
    # Injected as the torch adapters inject it, from the witness's plain lists.
    states = [None if p.get("state") is None else ParamState(
        p["theta"], p["state"]["m"], p["state"]["v"], p["state"].get("vmax"), p["state"]["step"])
        for g in witness["groups"] for p in g["params"]]
    inject_state(torch, opt, params, states, lambda a: torch.tensor(a, dtype=dt))
    in_place = [True] * len(params)
    grad_changed = [False] * len(params)
    for k, step_grads in enumerate(witness["grads"]):
        if k == witness.get("resume_at"):
            params, opt = _resumed(cls, opt, params)
        if "lr_at" in witness:
            for group in opt.param_groups:
                group["lr"] = witness["lr_at"][k]
        before = [p.data_ptr() for p in params]
        originals = []
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else torch.tensor(g, dtype=dt)
            originals.append(None if g is None else p.grad.clone())
        opt.step()
        for i, p in enumerate(params):
            in_place[i] &= p.data_ptr() == before[i]
            if originals[i] is not None:
                grad_changed[i] |= not torch.equal(p.grad.nan_to_num(7.0), originals[i].nan_to_num(7.0))
    out = []
    for i, p in enumerate(params):
        st = opt.state.get(p, {})
        rec = {"theta": p.detach().double().numpy().copy(), "in_place": in_place[i],
               "grad_changed": grad_changed[i], "keys": sorted(st)}
        for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            if k in st:
                rec[k] = st[k].detach().double().numpy().copy()
                rec[k + ".dtype"] = str(st[k].dtype)
        if "step" in st:
            rec["step"] = float(st["step"])
        out.append(rec)
    return {"params": out}


def _resumed(cls, opt, params):
    """A checkpoint round trip as a training job resumes (SPEC STATE-6)."""
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    fresh = [torch.nn.Parameter(p.detach().clone()) for p in params]
    groups, i = [], 0
    for g in opt.param_groups:
        groups.append({"params": fresh[i:i + len(g["params"])]})
        i += len(g["params"])
    new = cls(groups, **hyper_kwargs(lr=0.0123, betas=(0.51, 0.77), eps=0.031, weight_decay=0.29))
    new.load_state_dict(torch.load(buf, weights_only=True))
    return fresh, new


def _rel_diff(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return math.inf
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if np.any(nan_a != nan_b):
        return math.inf
    ok = ~nan_a
    a, b = a[ok], b[ok]
    if a.size == 0:
        return 0.0
    if np.any(np.isinf(a) | np.isinf(b)):
        return 0.0 if np.array_equal(a, b) else math.inf
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-300)
    return float(np.max(np.abs(a - b) / scale))


def _margin(x: dict, y: dict) -> float:
    """How far two observations differ: a relative difference, or inf for a categorical one."""
    if "construct" in x:
        return 0.0 if x == y else math.inf
    worst = 0.0
    for px, py in zip(x["params"], y["params"], strict=True):
        if set(px) != set(py):
            return math.inf
        for k in px:
            if isinstance(px[k], np.ndarray):
                worst = max(worst, _rel_diff(px[k], py[k]))
            elif k == "step":
                worst = max(worst, abs(px[k] - py[k]) / max(abs(py[k]), 1.0))
            elif px[k] != py[k]:
                return math.inf
    return worst


def witness_margin(m: Mutant) -> float:
    """The relative difference (inf: categorical) between member and control on the witness."""
    mine = observe(m.cls, m.witness)
    ref = observe(control_for(m.claim), m.witness)
    return _margin(mine, ref)


WITNESS_MARGIN = 1e-3  # "a clear margin": 0.1 % relative, far beyond any rounding of these inputs


def witness_differs(m: Mutant) -> bool:
    """Does the member visibly differ from the correct control on its witness?"""
    return witness_margin(m) > WITNESS_MARGIN
