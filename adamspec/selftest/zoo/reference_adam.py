"""The zoo's correct optimizer: the canonical step (SPEC AD-1) written from scratch with torch
tensor ops in the parameter's dtype and Python-float hyperparameters, the way torch's CPU
for-loop path computes, split into small hooks that each mutant (mutants.py) overrides one of.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GroupHyper:
    """One group's hyperparameters, as the step uses them."""

    lr: float
    beta1: float
    beta2: float
    eps: float
    wd: float
    amsgrad: bool
    maximize: bool


def is_finite_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


class ReferenceAdam(torch.optim.Optimizer):
    """The canonical step (SPEC AD-1): coupled L2 (modes adam, adam_l2), or decoupled decay.

    ``decoupled = True`` gives AdamW (:class:`ReferenceAdamW`). torch's constructor signature
    and state keys; state is created lazily at a parameter's first step with ``step`` a float32
    tensor; parameters whose ``.grad`` is None are skipped.
    """

    decoupled = False
    decay_before_update = True  # with decoupled decay: θ_{t−1} is decayed, not θ_{t−1} − α·u

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False):
        self._validate(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults)

    # --- validation (SPEC VAL-1 … VAL-5) ----------------------------------------------------
    def _validate(self, lr, betas, eps, weight_decay) -> None:
        if not (is_finite_number(lr) and lr >= 0.0):
            raise ValueError(f"Invalid learning rate lr: {lr!r}")
        if not (is_finite_number(eps) and eps >= 0.0):
            raise ValueError(f"Invalid epsilon eps: {eps!r}")
        for i, b in enumerate(betas):
            if not (is_finite_number(b) and 0.0 <= b < 1.0):
                raise ValueError(f"Invalid beta{i + 1} (betas[{i}]): {b!r}")
        if not (is_finite_number(weight_decay) and weight_decay >= 0.0):
            raise ValueError(f"Invalid weight_decay: {weight_decay!r}")

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        g = self.param_groups[-1]  # defaults filled in: validate what this group will use
        self._validate(g["lr"], g["betas"], g["eps"], g["weight_decay"])

    # --- the step -----------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for gi, group in enumerate(self.param_groups):
            h = self._hyper(gi, group)
            for p in group["params"]:
                if not self._has_grad(p):
                    self._no_grad(p, h)
                    continue
                self._step_param(p, p.grad, h)
        return loss

    def _hyper(self, gi: int, group) -> GroupHyper:
        b1, b2 = group["betas"]
        return GroupHyper(float(group["lr"]), float(b1), float(b2), float(group["eps"]),
                  float(group["weight_decay"]), bool(group["amsgrad"]), bool(group["maximize"]))

    def _has_grad(self, p) -> bool:
        return p.grad is not None

    def _no_grad(self, p, h: GroupHyper) -> None:
        """A parameter without gradient: nothing at all (SPEC NOGRAD-1, NOGRAD-2)."""

    def _step_param(self, p, grad, h: GroupHyper) -> None:
        state = self.state[p]
        if len(state) == 0:
            self._init_state(p, state, h)
        if h.amsgrad and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        self._core(p, grad, state, h)

    def _init_state(self, p, state, h: GroupHyper) -> None:
        state["step"] = torch.tensor(0.0, dtype=torch.float32)
        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if h.amsgrad:
            state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _core(self, p, grad, state, h: GroupHyper) -> None:
        t = self._advance(state)
        g = self._effective_grad(p, grad, h)
        if self.decoupled and self.decay_before_update:
            self._decay(p, h, t)
        m, v = self._moments(state, g, h)
        vv = self._amsgrad(state, v, h) if h.amsgrad else v
        bc1, bc2 = self._bias_corrections(h, t)
        denom = self._denom(vv, bc2, h)
        self._apply(p, m, denom, h, bc1)
        if self.decoupled and not self.decay_before_update:
            self._decay(p, h, t)

    def _advance(self, state) -> float:
        """t = t_prev + 1, stored; the new count is the one the corrections use (SPEC AD-1)."""
        state["step"] += 1
        return float(state["step"].item())

    def _effective_grad(self, p, grad, h: GroupHyper):
        g = self._maximize(grad, h)
        if not self.decoupled and h.wd != 0.0:
            g = self._l2(p, g, h)
        return g

    def _maximize(self, grad, h: GroupHyper):
        return -grad if h.maximize else grad

    def _l2(self, p, g, h: GroupHyper):
        return g.add(p, alpha=h.wd)

    def _decay(self, p, h: GroupHyper, t: float) -> None:
        """Decoupled decay of θ_{t−1}, before the update (SPEC AW-1, AW-4)."""
        p.mul_(1.0 - h.lr * h.wd)

    def _moments(self, state, g, h: GroupHyper):
        m, v = state["exp_avg"], state["exp_avg_sq"]
        g = g.to(m.dtype)  # a no-op for the canonical state dtype
        m.lerp_(g, 1.0 - h.beta1)
        v.mul_(h.beta2).addcmul_(g, g, value=1.0 - h.beta2)
        return m, v

    def _amsgrad(self, state, v, h: GroupHyper):
        vmax = state["max_exp_avg_sq"]
        torch.maximum(vmax, v, out=vmax)  # over the raw v, propagating NaN (SPEC AMS-1)
        return vmax

    def _bias_corrections(self, h: GroupHyper, t: float):
        return 1.0 - h.beta1**t, 1.0 - h.beta2**t

    def _denom(self, vv, bc2: float, h: GroupHyper):
        return (vv.sqrt() / math.sqrt(bc2)).add_(h.eps)

    def _apply(self, p, m, denom, h: GroupHyper, bc1: float) -> None:
        p.addcdiv_(m, denom, value=-h.lr / bc1)


class ReferenceAdamW(ReferenceAdam):
    """The canonical step in mode adamw: decoupled decay θ·(1 − α·λ) before the update."""

    decoupled = True

def control_for(claim: str) -> type:
    """The correct class for a claimed mode."""
    return ReferenceAdamW if claim == "adamw" else ReferenceAdam
