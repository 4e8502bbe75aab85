"""torch.optim.Adam / AdamW on CPU, through its for-loop, foreach and fused paths.

torch is imported when a session opens, so listing adapters works without it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import ml_dtypes
import numpy as np

from adamspec.adapters.base import (
    UNLIKE_DEFAULTS,
    BenchmarkStep,
    Capabilities,
    GroupSpec,
    ParamState,
    UnsupportedCase,
    refuse_undeclared_modes,
)
from adamspec.reference.hyper import Hyper, Mode

_DTYPES = ("float64", "float32", "bfloat16", "float16")
_PATHS = {"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True},
          "cuda-forloop": {"foreach": False}, "cuda-foreach": {"foreach": True}, "cuda-fused": {"fused": True},
          "cuda-capturable": {"foreach": True, "capturable": True}}


def cuda_unavailable_reason() -> str | None:
    """Why the CUDA paths cannot run here, or None."""
    try:
        import torch
    except ImportError:
        return "torch is not installed: pip install 'adamspec[torch]'"
    if not torch.cuda.is_available():
        return "no CUDA GPU (torch.cuda.is_available() is False)"
    return None


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised without the extra
        raise UnsupportedCase("torch is not installed: pip install 'adamspec[torch]'") from exc
    return torch


def optimizer_class(family: str):
    """torch.optim.AdamW for the ``adamw`` family, else torch.optim.Adam."""
    torch = _torch()
    return torch.optim.AdamW if family == "adamw" else torch.optim.Adam


def check_modes(caps: Capabilities, family: str, groups) -> None:
    """Refuse (not applicable) groups whose mode the adapter's torch class does not compute."""
    refuse_undeclared_modes(caps, groups)
    if family == "adamw" and any(g.hyper.mode is not Mode.ADAMW for g in groups):
        raise UnsupportedCase("torch.optim.AdamW implements only mode adamw")


def _to_torch(torch, a: np.ndarray, device: str = "cpu"):
    a = np.asarray(a)
    if a.dtype == ml_dtypes.bfloat16:  # numpy's bfloat16 has no torch twin: widen exactly
        return torch.from_numpy(a.astype(np.float32)).to(device=device, dtype=torch.bfloat16)
    return torch.from_numpy(a.copy()).to(device)


def _to_numpy(t, dtype) -> np.ndarray:
    t = t.detach().cpu()
    if str(t.dtype) == "torch.bfloat16":
        return t.float().numpy().astype(ml_dtypes.bfloat16)
    return t.numpy().astype(dtype, copy=True)


def _laid_out(torch, a: np.ndarray, layout: str, device: str = "cpu"):
    """A leaf tensor holding ``a`` in the requested memory layout (SPEC STATE-4)."""
    base = _to_torch(torch, a, device)
    if layout == "contiguous" or base.dim() == 0 or base.numel() == 0:
        return base
    if layout == "transposed" and base.dim() == 2:
        return base.t().contiguous().t()  # same values, column-major strides
    if layout == "strided":  # every other element of a buffer twice as long
        buf = torch.zeros((2 * base.numel(),), dtype=base.dtype, device=device)
        view = buf[::2]
        view.copy_(base.reshape(-1))
        return view.view(base.shape) if base.dim() <= 1 else view.as_strided(
            base.shape, [2 * s for s in base.contiguous().stride()])
    return base


def inject_state(torch, opt, params, states, tensor, step_device: str = "cpu") -> None:
    """Write injected state (SPEC STATE-3) into ``opt.state`` under torch's keys: ``step`` a
    float32 tensor on ``step_device``, ``exp_avg``, ``exp_avg_sq`` and, when kept,
    ``max_exp_avg_sq``, each made by ``tensor``; a parameter whose state is None, or has no
    step, starts fresh."""
    for p, st in zip(params, states):
        if st is None or st.step is None:
            continue
        entry = {"step": torch.tensor(float(st.step), dtype=torch.float32, device=step_device),
                 "exp_avg": tensor(st.m), "exp_avg_sq": tensor(st.v)}
        if st.vmax is not None:
            entry["max_exp_avg_sq"] = tensor(st.vmax)
        opt.state[p] = entry


def write_hypers(group: dict, h: Hyper) -> None:
    """Set a torch param group's hyperparameters as a training loop does (SPEC GRP-4): assign
    the floats, and ``fill_`` a tensor lr in place (what keeps a compiled step from recompiling)."""
    if hasattr(group["lr"], "fill_"):
        group["lr"].fill_(h.lr)
    else:
        group["lr"] = h.lr
    group["betas"] = (h.beta1, h.beta2)
    group["eps"], group["weight_decay"] = h.eps, h.weight_decay


def saved_and_loaded(torch, state_dict):
    """``state_dict`` written with ``torch.save`` to bytes and read back, as a checkpoint file is."""
    buf = io.BytesIO()
    torch.save(state_dict, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


class TorchAdamSession:
    """One torch optimizer over the case's parameter groups."""

    def __init__(self, cls, path_kwargs, groups: Sequence[GroupSpec], states, device: str = "cpu"):
        torch = _torch()
        self._torch, self.device = torch, device
        self._cls, self._path_kwargs = cls, dict(path_kwargs)
        self._layouts = [lay for g in groups for lay in (g.layouts or ("contiguous",) * len(g.params))]
        self.params, param_groups = [], []
        for group in groups:
            h = group.hyper
            layouts = group.layouts or ("contiguous",) * len(group.params)
            ps = [torch.nn.Parameter(_laid_out(torch, a, lay, device)) for a, lay in zip(group.params, layouts)]
            self.params += ps
            param_groups.append({"params": ps, **self.group_settings(h)})
        self.dtypes = [a.dtype for g in groups for a in g.params]
        self.opt = cls(param_groups, **path_kwargs)
        self.inject(states)
        self._grads, self._ptrs = [], []

    # --- what a library with torch's constructor but its own state keys overrides ------------

    def group_settings(self, h: Hyper) -> dict:
        """A param group's hyperparameters under torch's keys."""
        return {"lr": h.lr, "betas": (h.beta1, h.beta2), "eps": h.eps, "weight_decay": h.weight_decay,
                "amsgrad": h.amsgrad, "maximize": h.maximize}

    def inject(self, states) -> None:
        """Injected state under torch's keys. The count lives where torch puts it: on the device
        for fused and capturable paths, else on the CPU (Adam._init_group), in float32."""
        torch, device = self._torch, self.device
        on_device = self._path_kwargs.get("fused") or self._path_kwargs.get("capturable")
        inject_state(torch, self.opt, self.params, states, lambda a: _to_torch(torch, a, device),
                     device if on_device else "cpu")

    def state_of(self, st: dict) -> tuple:
        """(m, v, vmax, step) of one parameter's state entry, tensors or None, under torch's keys."""
        return st.get("exp_avg"), st.get("exp_avg_sq"), st.get("max_exp_avg_sq"), st.get("step")

    def resume_defaults(self, first: dict) -> dict:
        """The constructor defaults a resumed optimizer is built with: UNLIKE_DEFAULTS, amsgrad and
        maximize flipped from the first saved group's, a tensor lr kept a tensor."""
        defaults = {**UNLIKE_DEFAULTS, "amsgrad": not first["amsgrad"], "maximize": not first["maximize"]}
        if hasattr(first["lr"], "fill_"):
            defaults["lr"] = self._torch.tensor(defaults["lr"], device=first["lr"].device)
        return defaults

    def _tensor(self, a):
        return _to_torch(self._torch, a, self.device)

    def set_hypers(self, hypers: Sequence[Hyper]) -> None:
        """Each group's hyperparameters for the next step, written into ``opt.param_groups``."""
        for group, h in zip(self.opt.param_groups, hypers, strict=True):
            write_hypers(group, h)

    def current_values(self) -> list[np.ndarray]:
        """Each parameter's values now, as numpy arrays in its storage dtype."""
        return [_to_numpy(p, dt) for p, dt in zip(self.params, self.dtypes)]

    def fresh_parameters(self):
        """New leaf tensors holding the current values in the same layouts (a reloaded model)."""
        torch = self._torch
        return [torch.nn.Parameter(_laid_out(torch, a, lay, self.device))
                for a, lay in zip(self.current_values(), self._layouts)]

    def resume(self) -> None:
        """Checkpoint through ``state_dict`` and ``torch.save``, restore into a fresh optimizer over
        fresh parameters built with UNLIKE_DEFAULTS (and amsgrad, maximize flipped), go on with it."""
        torch = self._torch
        saved = saved_and_loaded(torch, self.opt.state_dict())
        params = self.fresh_parameters()
        groups, i = [], 0
        for g in self.opt.param_groups:
            groups.append({"params": params[i:i + len(g["params"])]})
            i += len(g["params"])
        opt = self._cls(groups, **self.resume_defaults(self.opt.param_groups[0]), **self._path_kwargs)
        opt.load_state_dict(saved)
        self.opt, self.params = opt, params

    def step(self, grads):
        self._grads = []
        for p, g in zip(self.params, grads, strict=True):
            p.grad = None if g is None else self._tensor(g)
            self._grads.append(p.grad)
        self._ptrs = [(p.data_ptr(), p.stride()) for p in self.params]
        self._optimizer_step()

    def _optimizer_step(self):
        """The implementation under test's step, gradients in place (a subclass may compile it)."""
        self.opt.step()

    def benchmark_step(self, grads) -> BenchmarkStep:
        """The gradients put in place, and the optimizer step alone (``adamspec bench``)."""
        for p, g in zip(self.params, grads, strict=True):
            p.grad = None if g is None else self._tensor(g)
        return BenchmarkStep(self._optimizer_step, "optimizer.step()", self.device)

    def grads_after(self):
        """The gradient tensors handed to step(), as they are now (SPEC MUT-1)."""
        return [None if g is None else _to_numpy(g, dt) for g, dt in zip(self._grads, self.dtypes)]

    def updated_in_place(self):
        """Whether each parameter still lives in the storage it had before step() (SPEC MUT-2)."""
        return [(p.data_ptr(), p.stride()) == ptr for p, ptr in zip(self.params, self._ptrs)]

    def read(self):
        out = []
        for p, dt in zip(self.params, self.dtypes):
            st = self.opt.state.get(p)
            if not st:
                out.append(ParamState(_to_numpy(p, dt)))
                continue
            m, v, vmax, step = self.state_of(st)
            out.append(ParamState(
                _to_numpy(p, dt), _state_numpy(m), _state_numpy(v), None if vmax is None else _state_numpy(vmax),
                None if step is None else int(step.item() if hasattr(step, "item") else step),
            ))
        return out

    def close(self):
        self.opt = None


def _state_numpy(t):
    """State as stored, in its own dtype (SPEC DT-1 is judged on it)."""
    if t is None:
        return None
    if str(t.dtype) == "torch.bfloat16":
        return t.detach().cpu().float().numpy().astype(ml_dtypes.bfloat16)
    return t.detach().cpu().numpy().copy()


class TorchOptimizerAdapter:
    """What every adapter of a ``torch.optim.Optimizer`` shares: where it runs (``device``), the
    constructor flags of the path it takes (``flags``), and from those the optional hooks
    ``unavailable_reason`` (a CUDA device without a GPU) and ``construct`` (adapters/base.py:
    ``Constructs``). A subclass sets ``capabilities``, says which class it builds
    (``optimizer_class``) and opens sessions (``TorchAdamSession`` fits torch's state keys).
    """

    device: str = "cpu"
    flags: Mapping[str, object] = MappingProxyType({})

    def optimizer_class(self) -> type:
        raise NotImplementedError

    def unavailable_reason(self) -> str | None:
        return cuda_unavailable_reason() if self.device == "cuda" else None

    def construct(self, **kwargs):
        """Build the optimizer from raw keyword arguments (SPEC VAL-*: it must refuse bad ones)."""
        torch = _torch()
        return self.optimizer_class()([torch.nn.Parameter(torch.zeros(2, device=self.device))],
                                      **self.flags, **kwargs)


class TorchAdamAdapter(TorchOptimizerAdapter):
    """``torch.adam.<path>`` (modes adam, adam_l2) or ``torch.adamw.<path>`` (adamw)."""

    def __init__(self, family: str, path: str):
        if family not in ("adam", "adamw") or path not in _PATHS:
            raise ValueError(f"unknown torch adapter torch.{family}.{path}")
        self.family, self.path = family, path
        self.device = "cuda" if path.startswith("cuda-") else "cpu"
        self.flags = dict(_PATHS[path])
        # for-loop and foreach round every operation to the parameter's dtype (on CUDA each
        # foreach op computes in float32 and rounds its result: the same model); the fused
        # kernels compute reduced-precision parameters in float32 (SPEC DT-2).
        if path.endswith("fused"):
            compute = {"float64": "float64", "float32": "float32", "bfloat16": "float32",
                       "float16": "float32"}
        else:
            compute = {d: d for d in _DTYPES}
        # Scalars: CPU paths and CUDA foreach form β^t and the step size as Python floats
        # (binary64). The capturable path forms them from the float32 step tensor on the
        # device; for the CUDA fused kernel, whose scalar arithmetic this CPU-only project has
        # not yet observed on a GPU, float32 is declared — the looser, safe claim.
        scalars = "float32" if path in ("cuda-capturable", "cuda-fused") else "float64"
        where = "CUDA" if self.device == "cuda" else "CPU"
        self.capabilities = Capabilities(
            name=f"torch.{family}.{path}",
            modes=frozenset({"adamw"} if family == "adamw" else {"adam", "adam_l2"}),
            dtypes=frozenset(_DTYPES),
            compute=compute,
            devices=frozenset({self.device}),
            scalars=scalars,
            max_step=2**24,  # the float32 step tensor counts exactly up to 2^24
            notes="torch.optim." + ("AdamW" if family == "adamw" else "Adam")
            + f" on {where}, {path.removeprefix('cuda-')} implementation",
        )

    def optimizer_class(self) -> type:
        return optimizer_class(self.family)

    def open(self, groups, states):
        check_modes(self.capabilities, self.family, groups)
        return TorchAdamSession(self.optimizer_class(), dict(self.flags), groups, states, device=self.device)


class TorchClassAdapter(TorchOptimizerAdapter):
    """Any ``torch.optim.Optimizer`` subclass with torch's constructor and state keys.

    ``claim`` is the one mode it claims to compute; it is assumed to compute in the
    parameter's dtype with Python-float hyperparameters, like torch's for-loop path.
    """

    def __init__(self, cls, claim: str, name: str | None = None):
        self.cls, self.claim = cls, claim
        dtypes = ("float64", "float32", "bfloat16")
        self.capabilities = Capabilities(
            name=name or f"{cls.__module__}:{cls.__qualname__}",
            modes=frozenset({claim}),
            dtypes=frozenset(dtypes),
            compute={d: d for d in dtypes},
            max_step=2**24,
            notes=f"user optimizer class claiming mode {claim}",
        )

    def optimizer_class(self) -> type:
        return self.cls

    def open(self, groups, states):
        for g in groups:
            if g.hyper.mode.value not in self.capabilities.modes:
                raise UnsupportedCase(
                    f"{self.capabilities.name} claims only {sorted(self.capabilities.modes)}")
        return TorchAdamSession(self.cls, {}, groups, states)
