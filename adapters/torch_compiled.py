"""``opt.step`` of a real ``torch.optim.Adam``/``AdamW`` compiled by ``torch.compile`` (inductor).

What users compile (torch's recipes "Compiling the optimizer with torch.compile" and "(beta)
Running the compiled optimizer with an LR scheduler"): ``torch.compile(opt.step)``, or a compiled
function calling ``opt.step()``, with ``fullgraph=False``. dynamo then traces the optimizer object:
``Optimizer.step``'s hook wrapper, ``_use_grad_for_differentiable``, ``Adam.step``, ``_init_group``
(dynamo runs torch's own ``_init_group`` at trace time, so the state of a fresh parameter is created
by torch, the way a user's first compiled step creates it), the flags resolved from the defaults,
and the functional step the flags select. Three paths, each a built-in name:

- ``torch.adam|adamw.compiled``: torch's default flags. On CPU ``foreach=None`` resolves to the
  single-tensor (for-loop) step (``_default_to_fused_or_foreach`` turns foreach on only for CUDA
  tensors); the learning rate a Python float.
- ``torch.adam|adamw.compiled-foreach``: ``foreach=True``, the multi-tensor step.
- ``torch.adam|adamw.compiled-tensor-lr``: the LR-scheduler recipe's form, ``lr=torch.tensor(lr)``
  (a float32 0-d tensor, as ``torch.tensor(0.01)`` makes it) with the default flags, so a schedule
  writing a new learning rate does not recompile. torch allows a tensor lr with ``foreach=True``
  only when ``capturable=True``, and the recipe sets neither: on CPU this is the for-loop step.
- ``torch.adam|adamw.cuda-compiled*``: the same three on a CUDA GPU. Under compile dynamo sets
  ``capturable=True`` on every group whose parameters are all on the GPU and have no state yet
  (``OptimizerVariable._set_capturable``); a resumed (state-injected) optimizer does not get it, and
  then ``adam``'s ``_disable_dynamo_if_unsupported`` wrapper runs the step *eagerly* (CUDA step
  counts, capturable off). So the CUDA adapters construct with ``capturable=True``, the path dynamo
  picks for a fresh optimizer, and the step counts live on the device. On CUDA the default flags
  resolve to foreach, so ``cuda-compiled`` and ``cuda-compiled-foreach`` take the same path.

``fullgraph`` stays False, as in torch's recipes: ``_use_grad_for_differentiable`` calls
``torch._dynamo.graph_break()`` on purpose (around the step, so AOT respects ``no_grad``), so
``fullgraph=True`` cannot compile ``opt.step`` at all. Instead every step checks dynamo's counters:
a graph break other than those deliberate ones, a frame dynamo failed to convert, or a hit of the
recompile limit (``fail_on_recompile_limit_hit``) raises, so no example is silently judged eager.

Reuse. dynamo guards on the optimizer object, on the identity of its state tensors (it marks
them static addresses) and on the float hyperparameters in ``param_groups``; a new optimizer per
example would recompile every example. One optimizer and one compiled callable are kept per
structure (family × path × per group: parameter dtypes, shapes, layouts, amsgrad, maximize), and
each example writes its values into them in place: ``param.copy_``, injected state copied into
tensors kept per parameter (contiguous, as ``TorchAdamSession`` injects them), ``param_groups[i]``
hyperparameters assigned, a tensor lr ``fill_``-ed. A parameter the case gives no state has no
entry in ``opt.state`` when the step starts (exactly as in ``TorchAdamSession``), so its state is
created by torch's ``_init_group`` inside the compiled step — which means every example with a fresh
parameter re-traces (dynamo's guards on an empty state cannot match), as a user's first step does.

Capabilities, from torch 2.13's source (``torch/optim/adam.py``, ``optimizer.py``,
``torch/_inductor/config.py``):

- step count: a float32 tensor (``_get_scalar_dtype()``), exact up to 2^24: ``max_step = 2**24``.
- scalars float32 on every path: under compile ``_get_value(step)`` returns the float32 step
  *tensor* instead of ``step.item()``, so ``β^t``, ``1 − β^t``, ``√(1 − β₂^t)`` and ``α/(1 − β₁^t)``
  are float32 tensor arithmetic (``_stack_if_compiling`` stacks them for foreach); the tensor lr is
  float32; the capturable path forms them from the float32 step on the device.
- compute: float32 and float64 tensors in their own format; bfloat16/float16 are loaded into
  float32 and stored rounded, inductor eliding the per-operation downcasts of eager code
  (``emulate_precision_casts`` is off by default: "when two low precision operators are fused
  together, Inductor will elide the downcast-upcast pairs").

- the moments' weight, foreach step only: ``torch._foreach_lerp_(exp_avgs, grads, 1 − β₁)`` is traced
  through dynamo's polyfill ``foreach_lerp_inplace`` (``torch/_dynamo/polyfills/__init__.py``), which
  materialises a Python-number weight as a tensor of the moments' dtype (``torch.full_like(diff, w)``
  for w < ½, ``torch.tensor(w, dtype=…)`` then ``1 − w`` for w ≥ ½): for bfloat16/float16 moments
  1 − β₁ is rounded to that format (β₁ = 0.001: 0.999 becomes 1.0 in bfloat16). Declared as
  ``moment_weight = "storage"`` (SPEC DT-4), so the bound counts that rounding; the plain-torch
  reproductions are in tests/test_torch_compiled_deviations.py. The for-loop step's ``lerp_`` is
  decomposed by inductor without the cast.

inductor's FX graph cache is off for these adapters (see ``_configure``).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from adamspec.adapters.base import Capabilities, GroupSpec
from adamspec.adapters.torch_optim import (
    _DTYPES,
    UNLIKE_DEFAULTS,
    TorchAdamSession,
    TorchOptimizerAdapter,
    _laid_out,
    _to_torch,
    _torch,
    check_modes,
    optimizer_class,
    saved_and_loaded,
    write_hypers,
)
from adamspec.reference.hyper import Hyper

# Built-in path name -> (constructor flags, tensor lr). CUDA adds capturable=True (module docstring).
PATHS = {
    "compiled": ({}, False),
    "compiled-foreach": ({"foreach": True}, False),
    "compiled-tensor-lr": ({}, True),
}

# The only graph breaks torch's compiled opt.step may show: _use_grad_for_differentiable's own.
_ALLOWED_BREAK = "Call to `torch._dynamo.graph_break()`"

_FX_GRAPH_CACHE = False  # tests switch it on to show the suite catching torch's cache defect
# Compiled entries accumulate (per structure, hyperparameter set and fresh-state re-trace);
# dynamo's caches are cleared after this many steps so that `default` and `thorough` runs
# neither hit the recompile limit nor grow without bound.
_RESET_EVERY = 400
_STEPS = [0]


class CompiledStepError(RuntimeError):
    """The compiled step did not run as compiled code (a graph break, a failed frame)."""


def _configure(torch):
    """Settings for the calling thread (torch's compiler config is per thread, and the runner
    steps in a worker thread).

    - Every structure is one guarded family of entries, fresh-state examples add one each, and
      the `ci` profile meets far more than dynamo's default recompile limit of 8 — past which
      dynamo silently runs the step eagerly; here hitting the limit raises.
    - inductor's FX graph cache (and AOTAutograd's) is off: in torch 2.13 it returns code compiled
      for an earlier value of a float input that dynamo made dynamic (the 1 − β₂ of addcmul's
      ``value=``), so a compiled ``opt.step`` whose β₂ changes computes v with a stale β₂ — README
      "Known deviations", reproduced in plain torch in tests/test_torch_compiled.py (upstream:
      pytorch/pytorch#197889). With it on, a verdict would also depend on what earlier processes
      left in the cache directory.
    """
    dyn = torch._dynamo.config
    if dyn.recompile_limit < _RESET_EVERY + 64:
        dyn.recompile_limit = _RESET_EVERY + 64
        dyn.accumulated_recompile_limit = max(dyn.accumulated_recompile_limit, 4 * _RESET_EVERY)
    dyn.fail_on_recompile_limit_hit = True
    dyn.suppress_errors = False
    torch._inductor.config.fx_graph_cache = _FX_GRAPH_CACHE
    torch._functorch.config.enable_autograd_cache = _FX_GRAPH_CACHE


def _checked(torch, fn):
    """Call the compiled step; raise if dynamo ran any of it outside compiled graphs."""
    from torch._dynamo.utils import counters

    before = {k: dict(counters[k]) for k in ("graph_break", "frames", "unimplemented")}
    fn()
    breaks = [k for k, n in counters["graph_break"].items()
              if n != before["graph_break"].get(k, 0) and not k.startswith(_ALLOWED_BREAK)]
    frames = {k: counters["frames"].get(k, 0) - before["frames"].get(k, 0) for k in ("total", "ok")}
    unimpl = [k for k, n in counters["unimplemented"].items() if n != before["unimplemented"].get(k, 0)]
    if breaks or unimpl or frames["total"] != frames["ok"]:
        raise CompiledStepError(
            "torch.compile did not compile the whole step: "
            + "; ".join([*(b.splitlines()[0] for b in breaks), *unimpl][:3]
                        or [f"{frames['total'] - frames['ok']} frame(s) not converted"]))


class _Instance:
    """One optimizer over one structure, its compiled ``opt.step``, and per-parameter tensors
    that injected state is copied into (kept so that dynamo's identity guards hold)."""

    def __init__(self, torch, cls, device, groups, flags, tensor_lr):
        self.torch, self.device, self.tensor_lr = torch, device, tensor_lr
        self.params, self.bases, param_groups = [], [], []
        for group in groups:
            h = group.hyper
            layouts = group.layouts or ("contiguous",) * len(group.params)
            ps = []
            for a, lay in zip(group.params, layouts):
                t = _laid_out(torch, a, lay, device)
                self.bases.append(t._base)  # the buffer a strided/transposed view lives in
                ps.append(torch.nn.Parameter(t))
            self.params += ps
            param_groups.append({
                "params": ps, "lr": torch.tensor(h.lr, device=device) if tensor_lr else h.lr,
                "betas": (h.beta1, h.beta2), "eps": h.eps, "weight_decay": h.weight_decay,
                "amsgrad": h.amsgrad, "maximize": h.maximize,
            })
        self.opt = cls(param_groups, **flags)
        self.step_on_device = bool(flags.get("capturable"))
        self.compiled = torch.compile(self.opt.step)  # torch's recipe: fullgraph=False (docstring)
        self.slots: list[dict] = [{} for _ in self.params]
        self.in_use = False

    def _slot(self, i, name, like):
        t = self.slots[i].get(name)
        if t is None or t.dtype != like.dtype or t.shape != like.shape:
            t = self.slots[i][name] = self.torch.empty_like(like, memory_format=self.torch.contiguous_format)
        t.copy_(like)
        return t

    def load(self, groups, states):
        """Write the case into the optimizer in place (module docstring, "Reuse")."""
        torch = self.torch
        arrays = [a for g in groups for a in g.params]
        with torch.no_grad():
            for p, base, a in zip(self.params, self.bases, arrays, strict=True):
                if base is not None:
                    base.zero_()
                p.copy_(_to_torch(torch, a, self.device))
                p.grad = None
            for group, spec in zip(self.opt.param_groups, groups, strict=True):
                h = spec.hyper
                write_hypers(group, h)
                group["amsgrad"], group["maximize"] = h.amsgrad, h.maximize
            # As TorchAdamSession: an entry only for injected state, in parameter order, with
            # torch's keys; every other parameter starts without state.
            self.opt.state.clear()
            for i, (p, st) in enumerate(zip(self.params, states, strict=True)):
                if st is None or st.step is None:
                    continue
                step = torch.tensor(float(st.step), dtype=torch.float32,
                                    device=self.device if self.step_on_device else "cpu")
                entry = {"step": self._slot(i, "step", step),
                         "exp_avg": self._slot(i, "exp_avg", _to_torch(torch, st.m, self.device)),
                         "exp_avg_sq": self._slot(i, "exp_avg_sq", _to_torch(torch, st.v, self.device))}
                if st.vmax is not None:
                    entry["max_exp_avg_sq"] = self._slot(i, "max_exp_avg_sq", _to_torch(torch, st.vmax, self.device))
                self.opt.state[p] = entry


_POOL: dict = {}
_POOL_LOCK = threading.Lock()


def _structure(groups):
    out = []
    for g in groups:
        layouts = g.layouts or ("contiguous",) * len(g.params)
        out.append((tuple((str(np.asarray(a).dtype), np.shape(a), lay) for a, lay in zip(g.params, layouts)),
                    g.hyper.amsgrad, g.hyper.maximize))
    return tuple(out)


class TorchCompiledSession(TorchAdamSession):
    """A session on a pooled instance: TorchAdamSession's gradient handling and read-back; the
    optimizer step is the compiled ``opt.step``."""

    def __init__(self, inst: _Instance, groups, cls, flags):
        self._torch, self.device = inst.torch, inst.device
        self._inst, self.opt, self.params = inst, inst.opt, inst.params
        self.dtypes = [a.dtype for g in groups for a in g.params]
        self._groups, self._cls, self._flags = groups, cls, flags
        self._grads, self._ptrs = [], []

    def resume(self) -> None:
        """As TorchAdamSession.resume, into a fresh instance (not pooled) whose ``opt.step`` is
        compiled anew: what a resumed training job compiles."""
        torch = self._torch
        saved = saved_and_loaded(torch, self.opt.state_dict())
        b1, b2 = UNLIKE_DEFAULTS["betas"]
        current = self.current_values()
        groups, i = [], 0
        for g in self._groups:
            n = len(g.params)
            values = tuple(current[i:i + n])
            # mode adam has no decay term at all: its unlike default stays λ = 0
            wd = 0.0 if g.hyper.mode.value == "adam" else UNLIKE_DEFAULTS["weight_decay"]
            unlike = Hyper(lr=UNLIKE_DEFAULTS["lr"], beta1=b1, beta2=b2, eps=UNLIKE_DEFAULTS["eps"],
                           weight_decay=wd, mode=g.hyper.mode,
                           amsgrad=not g.hyper.amsgrad, maximize=not g.hyper.maximize)
            groups.append(GroupSpec(unlike, values, g.layouts))
            i += n
        inst = _Instance(torch, self._cls, self.device, groups, self._flags, self._inst.tensor_lr)
        inst.opt.load_state_dict(saved)
        inst.in_use = True
        self._inst.in_use = False  # the old instance goes back to the pool
        self._inst, self.opt, self.params = inst, inst.opt, inst.params

    def _optimizer_step(self):
        torch = self._torch
        _configure(torch)
        _STEPS[0] += 1
        if _STEPS[0] % _RESET_EVERY == 0:
            torch._dynamo.reset()
        _checked(torch, self._inst.compiled)

    def close(self):
        if self._inst is not None:
            for p in self.params:
                p.grad = None
            self._inst.in_use = False
        self._inst = self.opt = None


class TorchCompiledAdapter(TorchOptimizerAdapter):
    """``torch.adam|adamw.compiled[-foreach|-tensor-lr]`` (CPU) and ``…cuda-compiled*`` (CUDA)."""

    def __init__(self, family: str, device: str = "cpu", path: str = "compiled"):
        if family not in ("adam", "adamw") or device not in ("cpu", "cuda") or path not in PATHS:
            raise ValueError(f"unknown compiled adapter {family} {path} on {device}")
        self.family, self.device, self.path = family, device, path
        flags, self.tensor_lr = PATHS[path]
        self.flags = {**flags, "capturable": True} if device == "cuda" else dict(flags)
        name = path if device == "cpu" else f"cuda-{path}"
        # inductor loads bfloat16/float16 into float32, computes, and rounds at the store.
        compute = {"float64": "float64", "float32": "float32", "bfloat16": "float32", "float16": "float32"}
        lr = "lr=torch.tensor(lr)" if self.tensor_lr else "float lr"
        self.capabilities = Capabilities(
            name=f"torch.{family}.{name}",
            modes=frozenset({"adamw"} if family == "adamw" else {"adam", "adam_l2"}),
            dtypes=frozenset(_DTYPES),
            compute=compute,
            devices=frozenset({device}),
            scalars="float32",  # β^t, 1 − β^t, the step size (and a tensor lr) are float32 tensors
            # the foreach step (foreach=True; on CUDA every path) runs _foreach_lerp_ through dynamo's
            # polyfill, which casts the weight 1 − β₁ to the moments' dtype (module docstring)
            moment_weight="storage" if device == "cuda" or self.flags.get("foreach") else "scalars",
            max_step=2**24,  # the float32 step tensor counts exactly up to 2^24
            notes=f"torch.compile(opt.step) of torch.optim.{'AdamW' if family == 'adamw' else 'Adam'}"
            f"({', '.join([lr, *(f'{k}={v}' for k, v in self.flags.items())])}) on {device.upper()}; "
            "one optimizer and compiled step per structure, examples written in place",
        )
        self.warm_seconds: float | None = None

    def optimizer_class(self) -> type:
        return optimizer_class(self.family)

    def warm_up(self) -> None:
        """Compile the commonest structure once, outside any example's time limit."""
        if self.warm_seconds is not None:
            return
        from adamspec.adapters.base import GroupSpec
        from adamspec.reference.hyper import Hyper

        start = time.perf_counter()
        mode = "adamw" if self.family == "adamw" else "adam"
        session = self.open([GroupSpec(Hyper(mode=mode), (np.ones(3, np.float32),))], [None])
        session.step([np.ones(3, np.float32)])
        session.close()
        self.warm_seconds = time.perf_counter() - start

    def open(self, groups, states):
        check_modes(self.capabilities, self.family, groups)
        torch = _torch()
        key = (self.family, self.device, self.path, _structure(groups))
        with _POOL_LOCK:  # an example that hung past its time limit may still hold its instance
            insts = _POOL.setdefault(key, [])
            inst = next((i for i in insts if not i.in_use), None)
            if inst is None:
                inst = _Instance(torch, optimizer_class(self.family), self.device, groups, self.flags,
                                 self.tensor_lr)
                insts.append(inst)
            inst.in_use = True
        try:
            inst.load(groups, states)
        except BaseException:
            inst.in_use = False
            raise
        return TorchCompiledSession(inst, groups, optimizer_class(self.family), self.flags)
