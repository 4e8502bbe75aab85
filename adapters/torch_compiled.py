"""torch's Adam/AdamW step compiled by ``torch.compile`` (inductor), on CPU or CUDA.

The adapter compiles, once per process, the functional step that ``Adam.step`` itself calls,
``torch.optim.adam.adam``, with the tensors and hyperparameters as arguments — the code a user
gets from ``torch.compile(opt.step)``, without a recompile for every new optimizer instance
(compiling ``opt.step`` of a fresh optimizer costs 0.6–3 s per example on this 2-core machine).
dynamo still specialises the float hyperparameters that reach scalar arguments (addcmul's
``value=1 − β₂``, lerp's weight), so each new (α, β₁, β₂, ε, λ) recompiles: about 0.5–1 s per
example here, the price of testing a compiled step across hyperparameters. The `ci` profile
affords it; `default` takes minutes per adapter.

- CPU: the single-tensor step (torch's default on CPU), the step count a float32 tensor;
  under compile ``β^t`` and the bias corrections are tensor arithmetic in float32, so the
  scalars are declared float32, and inductor computes reduced-precision tensors in float32
  between loads and stores.
- CUDA: the multi-tensor (foreach) step with ``capturable=True`` and the step count on the
  device, as dynamo arranges for a compiled CUDA optimizer.

State is created the way ``Adam._init_group`` creates it (zeros in the parameter's layout,
the count a float32 zero); the adapter holds it in an ordinary ``torch.optim`` instance, so
construction, validation and state keys are torch's own.
"""

from __future__ import annotations

import time

from adamspec.adapters.base import Capabilities
from adamspec.adapters.torch_optim import (
    _DTYPES,
    TorchAdamSession,
    _torch,
    check_modes,
    cuda_unavailable_reason,
    optimizer_class,
)

_COMPILED: dict = {}  # one compiled step per process: its guards select per structure


def _compiled_step(torch):
    fn = _COMPILED.get("step")
    if fn is None:
        from torch.optim.adam import adam

        def step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, lr, beta1,
                 beta2, weight_decay, eps, amsgrad, maximize, decoupled, foreach, capturable):
            adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps,
                 foreach=foreach, capturable=capturable, differentiable=False, fused=False,
                 grad_scale=None, found_inf=None, has_complex=False,
                 decoupled_weight_decay=decoupled, amsgrad=amsgrad, beta1=beta1, beta2=beta2,
                 lr=lr, weight_decay=weight_decay, eps=eps, maximize=maximize)

        fn = _COMPILED["step"] = torch.compile(step, dynamic=True)
    return fn


def _configure(torch):
    """Settings for the calling thread (torch's compiler config is per thread, and the runner
    steps in a worker thread).

    - Every structure (dtype × count × layout × flags) is one guarded entry, and the `ci`
      profile meets a few dozen, more than dynamo's default limit of 8 — past which dynamo
      silently runs the step eagerly; this adapter must never judge eager code as compiled.
    - inductor's FX graph cache is off: in torch 2.13 it returns code compiled for an earlier
      value of a float input (the scalar 1 − β₂ of addcmul's ``value=``), so with it on the
      compiled step computes v with a stale β₂ — README "Known deviations", reproduced in
      plain torch there and in tests/test_torch_compiled.py (upstream: pytorch/pytorch#197889).
    """
    dyn = torch._dynamo.config
    if dyn.recompile_limit < _RESET_EVERY + 64:
        dyn.recompile_limit = _RESET_EVERY + 64
        dyn.accumulated_recompile_limit = max(dyn.accumulated_recompile_limit, 4 * _RESET_EVERY)
        dyn.fail_on_recompile_limit_hit = True
    torch._inductor.config.fx_graph_cache = _FX_GRAPH_CACHE
    torch._functorch.config.enable_autograd_cache = _FX_GRAPH_CACHE


_FX_GRAPH_CACHE = False  # tests switch it on to show the suite catching torch's cache defect
# Compiled entries accumulate (one per structure and hyperparameter set); dynamo's caches are
# cleared after this many steps so that `default` and `thorough` runs neither hit the
# recompile limit nor grow without bound.
_RESET_EVERY = 400


class TorchCompiledSession(TorchAdamSession):
    """A ``torch.optim`` instance for state and groups; its step runs the compiled function."""

    def __init__(self, cls, device, groups, states):
        # The paths the compiled step takes (module docstring); they also place an injected
        # step count where that path keeps it (on the device when capturable).
        cuda = device == "cuda"
        super().__init__(cls, {"foreach": cuda, "capturable": cuda}, groups, states, device=device)
        self._fn = _compiled_step(self._torch)

    def _optimizer_step(self):
        torch = self._torch
        cuda = self.device == "cuda"
        _configure(torch)
        _COMPILED["steps"] = _COMPILED.get("steps", 0) + 1
        if _COMPILED["steps"] % _RESET_EVERY == 0:
            torch._dynamo.reset()
        with torch.no_grad():
            for group in self.opt.param_groups:
                lists = ([], [], [], [], [], [])
                for p in group["params"]:
                    if p.grad is None:  # NOGRAD: no state, no decay
                        continue
                    st = self.opt.state[p]
                    if not st:  # as Adam._init_group creates it
                        st["step"] = torch.zeros((), dtype=torch.float32, device=p.device if cuda else "cpu")
                        st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                        st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                        if group["amsgrad"]:
                            st["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    for lst, x in zip(lists, (p, p.grad, st["exp_avg"], st["exp_avg_sq"],
                                              st.get("max_exp_avg_sq"), st["step"])):
                        if x is not None:
                            lst.append(x)
                if not lists[0]:
                    continue
                beta1, beta2 = group["betas"]
                self._fn(*lists, float(group["lr"]), float(beta1), float(beta2),
                         float(group["weight_decay"]), float(group["eps"]), bool(group["amsgrad"]),
                         bool(group["maximize"]), bool(group["decoupled_weight_decay"]), cuda, cuda)


class TorchCompiledAdapter:
    """``torch.adam|adamw.compiled`` (CPU) and ``torch.adam|adamw.cuda-compiled``."""

    def __init__(self, family: str, device: str = "cpu"):
        if family not in ("adam", "adamw") or device not in ("cpu", "cuda"):
            raise ValueError(f"unknown compiled adapter {family} on {device}")
        self.family, self.device = family, device
        path = "compiled" if device == "cpu" else "cuda-compiled"
        # inductor loads bfloat16/float16 into float32, computes, and rounds at the store.
        compute = {"float64": "float64", "float32": "float32", "bfloat16": "float32", "float16": "float32"}
        self.capabilities = Capabilities(
            name=f"torch.{family}.{path}",
            modes=frozenset({"adamw"} if family == "adamw" else {"adam", "adam_l2"}),
            dtypes=frozenset(_DTYPES),
            compute=compute,
            devices=frozenset({device}),
            scalars="float32",  # β^t and 1 − β^t are float32 tensor arithmetic under compile
            max_step=2**24,
            notes=f"torch.optim.{'AdamW' if family == 'adamw' else 'Adam'} step compiled by "
            f"torch.compile (inductor) on {device.upper()}; compiled once per structure",
        )
        self.warm_seconds: float | None = None

    def unavailable_reason(self) -> str | None:
        return cuda_unavailable_reason() if self.device == "cuda" else None

    def construct(self, **kwargs):
        """Build the optimizer from raw keyword arguments (SPEC VAL-*: torch validates them)."""
        torch = _torch()
        return optimizer_class(self.family)([torch.nn.Parameter(torch.zeros(2, device=self.device))], **kwargs)

    def warm_up(self) -> None:
        """Compile the commonest structure once, outside any example's time limit."""
        if self.warm_seconds is not None:
            return
        import numpy as np

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
        return TorchCompiledSession(optimizer_class(self.family), self.device, groups, states)
