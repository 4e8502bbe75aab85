"""A zoo of deliberately wrong Adam / Adam+L2 / AdamW implementations, and correct controls.

Every member is a small ``torch.optim.Optimizer`` written from scratch (no torch.optim.Adam
inside): one correct base class, :class:`_ReferenceAdam`, computes the canonical step of SPEC
AD-1 with torch tensor ops in the parameter's dtype and Python-float hyperparameters, the way
torch's CPU for-loop path does, and each mutant overrides exactly one small hook of it (or sets
one class attribute), so that every mutant differs from a correct implementation in one place.

``MUTANTS`` lists the wrong ones with the mode they claim, the SPEC clauses of which at least one
must reject them, the real-world bug class they stand for and where that class was reported.
``CONTROLS`` lists the base classes under their three honest claims; they must conform.

Each entry carries a *witness*: a small concrete input on which the mutant and the correct
control visibly disagree (a value off by a clear margin, a mutated gradient, a wrong step count,
an error not raised ...). :func:`witness_differs` replays it with plain torch — no adamspec
property involved — which proves that no mutant is equivalent to a correct implementation, so a
mutant that the conformance suite lets through is a gap of the suite, not of the zoo.

Use a member with the suite through :func:`adapter`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from adamspec.adapters.torch_optim import TorchClassAdapter

__all__ = ["CONTROLS", "MUTANTS", "Mutant", "adapter", "control_for", "observe", "witness_differs",
           "witness_margin"]


# ---------------------------------------------------------------------------------------------
# The correct implementation, with hooks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _H:
    """One group's hyperparameters, as the step uses them."""

    lr: float
    beta1: float
    beta2: float
    eps: float
    wd: float
    amsgrad: bool
    maximize: bool


def _is_finite_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


class _ReferenceAdam(torch.optim.Optimizer):
    """The canonical step (SPEC AD-1): coupled L2 (modes adam, adam_l2), or decoupled decay.

    ``decoupled = True`` gives AdamW (:class:`_ReferenceAdamW`). torch's constructor signature
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
        if not (_is_finite_number(lr) and lr >= 0.0):
            raise ValueError(f"Invalid learning rate lr: {lr!r}")
        if not (_is_finite_number(eps) and eps >= 0.0):
            raise ValueError(f"Invalid epsilon eps: {eps!r}")
        for i, b in enumerate(betas):
            if not (_is_finite_number(b) and 0.0 <= b < 1.0):
                raise ValueError(f"Invalid beta{i + 1} (betas[{i}]): {b!r}")
        if not (_is_finite_number(weight_decay) and weight_decay >= 0.0):
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

    def _hyper(self, gi: int, group) -> _H:
        b1, b2 = group["betas"]
        return _H(float(group["lr"]), float(b1), float(b2), float(group["eps"]),
                  float(group["weight_decay"]), bool(group["amsgrad"]), bool(group["maximize"]))

    def _has_grad(self, p) -> bool:
        return p.grad is not None

    def _no_grad(self, p, h: _H) -> None:
        """A parameter without gradient: nothing at all (SPEC NOGRAD-1, NOGRAD-2)."""

    def _step_param(self, p, grad, h: _H) -> None:
        state = self.state[p]
        if len(state) == 0:
            self._init_state(p, state, h)
        if h.amsgrad and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        self._core(p, grad, state, h)

    def _init_state(self, p, state, h: _H) -> None:
        state["step"] = torch.tensor(0.0, dtype=torch.float32)
        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if h.amsgrad:
            state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _core(self, p, grad, state, h: _H) -> None:
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

    def _effective_grad(self, p, grad, h: _H):
        g = self._maximize(grad, h)
        if not self.decoupled and h.wd != 0.0:
            g = self._l2(p, g, h)
        return g

    def _maximize(self, grad, h: _H):
        return -grad if h.maximize else grad

    def _l2(self, p, g, h: _H):
        return g.add(p, alpha=h.wd)

    def _decay(self, p, h: _H, t: float) -> None:
        """Decoupled decay of θ_{t−1}, before the update (SPEC AW-1, AW-4)."""
        p.mul_(1.0 - h.lr * h.wd)

    def _moments(self, state, g, h: _H):
        m, v = state["exp_avg"], state["exp_avg_sq"]
        g = g.to(m.dtype)  # a no-op for the canonical state dtype
        m.lerp_(g, 1.0 - h.beta1)
        v.mul_(h.beta2).addcmul_(g, g, value=1.0 - h.beta2)
        return m, v

    def _amsgrad(self, state, v, h: _H):
        vmax = state["max_exp_avg_sq"]
        torch.maximum(vmax, v, out=vmax)  # over the raw v, propagating NaN (SPEC AMS-1)
        return vmax

    def _bias_corrections(self, h: _H, t: float):
        return 1.0 - h.beta1**t, 1.0 - h.beta2**t

    def _denom(self, vv, bc2: float, h: _H):
        return (vv.sqrt() / math.sqrt(bc2)).add_(h.eps)

    def _apply(self, p, m, denom, h: _H, bc1: float) -> None:
        p.addcdiv_(m, denom, value=-h.lr / bc1)


class _ReferenceAdamW(_ReferenceAdam):
    """The canonical step in mode adamw: decoupled decay θ·(1 − α·λ) before the update."""

    decoupled = True


# ---------------------------------------------------------------------------------------------
# The mutants: each overrides one hook (or one class attribute)
# ---------------------------------------------------------------------------------------------

# --- decoupled decay -----------------------------------------------------------------------


class DecayAfterUpdate(_ReferenceAdamW):
    decay_before_update = False  # decays θ_{t−1} − α·u instead of θ_{t−1}


class DecayNotScaledByLr(_ReferenceAdamW):
    def _decay(self, p, h, t):
        p.mul_(1.0 - h.wd)


class DecayScaledByBiasCorrectedLr(_ReferenceAdamW):
    def _decay(self, p, h, t):
        p.mul_(1.0 - h.lr / (1.0 - h.beta1**t) * h.wd)  # the step size α/(1 − β1^t) reused


class CoupledL2AsAdamW(_ReferenceAdam):
    """Coupled L2 (decoupled = False) shipped as AdamW."""


class DecoupledAsAdamL2(_ReferenceAdamW):
    """Decoupled decay (decoupled = True) shipped as Adam with L2 regularisation."""


class L2OnlyInFirstMoment(_ReferenceAdam):
    def _moments(self, state, g, h):
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(g, 1.0 - h.beta1)
        raw = g.sub(self._current_l2) if h.wd != 0.0 else g  # v from the gradient without λθ
        v.mul_(h.beta2).addcmul_(raw, raw, value=1.0 - h.beta2)
        return m, v

    def _l2(self, p, g, h):
        self._current_l2 = p.mul(h.wd)
        return g.add(self._current_l2)


# --- ε ---------------------------------------------------------------------------------------


class EpsHat(_ReferenceAdam):
    """Kingma & Ba's 'efficient' form: α_t = α·√(1 − β2^t)/(1 − β1^t), denominator √v + ε."""

    def _denom(self, vv, bc2, h):
        return (vv.sqrt().add_(h.eps)).div_(math.sqrt(bc2))


class EpsOverSqrtBc2(_ReferenceAdamW):
    def _denom(self, vv, bc2, h):
        return (vv.sqrt() / math.sqrt(bc2)).add_(h.eps / math.sqrt(bc2))


class EpsInsideRoot(_ReferenceAdam):
    def _denom(self, vv, bc2, h):
        return (vv / bc2).add_(h.eps).sqrt_()


class EpsSquaredInsideRoot(_ReferenceAdamW):
    def _denom(self, vv, bc2, h):
        return (vv / bc2).add_(h.eps * h.eps).sqrt_()


class DenominatorFloor(_ReferenceAdam):
    def _denom(self, vv, bc2, h):
        return (vv.sqrt() / math.sqrt(bc2)).clamp_(min=1e-12).add_(h.eps)


# --- bias correction -------------------------------------------------------------------------


class NoBiasCorrection(_ReferenceAdam):
    def _bias_corrections(self, h, t):
        return 1.0, 1.0


class BiasCorrectionAtPreviousStep(_ReferenceAdam):
    def _bias_corrections(self, h, t):
        return 1.0 - h.beta1 ** (t - 1), 1.0 - h.beta2 ** (t - 1)  # 0 at the first step


class BiasCorrectionAtNextStep(_ReferenceAdamW):
    def _bias_corrections(self, h, t):
        return 1.0 - h.beta1 ** (t + 1), 1.0 - h.beta2 ** (t + 1)


class BiasCorrectionFirstMomentOnly(_ReferenceAdam):
    def _bias_corrections(self, h, t):
        return 1.0 - h.beta1**t, 1.0


class BiasCorrectionSecondMomentOnly(_ReferenceAdamW):
    def _bias_corrections(self, h, t):
        return 1.0, 1.0 - h.beta2**t


class BetaPowerFromHalfBeta(_ReferenceAdam):
    def _bias_corrections(self, h, t):
        b1 = float(torch.tensor(h.beta1, dtype=torch.float16))  # β held in binary16 for β^t
        b2 = float(torch.tensor(h.beta2, dtype=torch.float16))
        return 1.0 - b1**t, 1.0 - b2**t


# --- moments ---------------------------------------------------------------------------------


class SwappedBetas(_ReferenceAdam):
    def _hyper(self, gi, group):
        h = super()._hyper(gi, group)
        return _H(h.lr, h.beta2, h.beta1, h.eps, h.wd, h.amsgrad, h.maximize)


class AbsGradInSecondMoment(_ReferenceAdamW):
    def _moments(self, state, g, h):
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(g, 1.0 - h.beta1)
        v.mul_(h.beta2).add_(g.abs(), alpha=1.0 - h.beta2)
        return m, v


# --- AMSGrad ---------------------------------------------------------------------------------


class AmsgradOverVhat(_ReferenceAdam):
    """v̂_max = max(v̂_max, v_t/(1 − β2^t)) stored corrected, used without further correction."""

    def _amsgrad(self, state, v, h):
        bc2 = 1.0 - h.beta2 ** float(state["step"].item())
        vmax = state["max_exp_avg_sq"]
        torch.maximum(vmax, v / bc2, out=vmax)
        return vmax * bc2  # so that the canonical division by bc2 leaves v̂_max


class AmsgradMaxNotStored(_ReferenceAdamW):
    def _amsgrad(self, state, v, h):
        return torch.maximum(state["max_exp_avg_sq"], v)  # used, never written back


class AmsgradMaxStoredInV(_ReferenceAdam):
    def _amsgrad(self, state, v, h):
        vmax = state["max_exp_avg_sq"]
        torch.maximum(vmax, v, out=vmax)
        v.copy_(vmax)  # exp_avg_sq overwritten by the maximum
        return vmax


class AmsgradMaxDropsNaN(_ReferenceAdam):
    def _amsgrad(self, state, v, h):
        vmax = state["max_exp_avg_sq"]
        torch.fmax(vmax, v, out=vmax)  # fmax ignores a NaN operand
        return vmax


# --- maximize --------------------------------------------------------------------------------


class MaximizeIgnored(_ReferenceAdam):
    def _maximize(self, grad, h):
        return grad


class MaximizeAfterL2(_ReferenceAdam):
    def _effective_grad(self, p, grad, h):
        g = grad.add(p, alpha=h.wd) if h.wd != 0.0 else grad
        return -g if h.maximize else g  # negates the L2 term too


class MaximizeFlipsUpdate(_ReferenceAdam):
    """Maximize by flipping the learning rate: moments built from +g."""

    def _maximize(self, grad, h):
        return grad

    def _apply(self, p, m, denom, h, bc1):
        p.addcdiv_(m, denom, value=(h.lr if h.maximize else -h.lr) / bc1)


# --- inputs and in-place update --------------------------------------------------------------


class L2AddedToGradInPlace(_ReferenceAdam):
    def _l2(self, p, g, h):
        return g.add_(p, alpha=h.wd)  # writes λθ into p.grad


class MaximizeNegatesGradInPlace(_ReferenceAdamW):
    def _maximize(self, grad, h):
        return grad.neg_() if h.maximize else grad


class OutOfPlaceUpdate(_ReferenceAdam):
    def _apply(self, p, m, denom, h, bc1):
        p.data = p.addcdiv(m, denom, value=-h.lr / bc1)  # a new tensor behind the Parameter


# --- precision and dtypes --------------------------------------------------------------------


class HalfPrecisionArithmetic(_ReferenceAdamW):
    """Computes the whole step in float16 whatever the parameter's dtype."""

    def _step_param(self, p, grad, h):
        state = self.state[p]
        if len(state) == 0:
            self._init_state(p, state, h)
        if h.amsgrad and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = torch.zeros_like(p)
        half = torch.float16
        hp = p.detach().to(half)
        hs = {k: (s if k == "step" else s.to(half)) for k, s in state.items()}
        self._core(hp, grad.to(half), hs, h)
        p.copy_(hp)
        for k, s in hs.items():
            if k != "step":
                state[k].copy_(s)


class StateInFloat32(_ReferenceAdam):
    """m, v (and v_max) kept in float32 whatever the parameter's dtype, undeclared."""

    def _init_state(self, p, state, h):
        state["step"] = torch.tensor(0.0, dtype=torch.float32)
        for k in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if h.amsgrad else ()):
            state[k] = torch.zeros(p.shape, dtype=torch.float32)


# --- step counter ----------------------------------------------------------------------------


class StepCounterNotAdvanced(_ReferenceAdam):
    def _advance(self, state):
        return float(state["step"].item()) + 1.0  # used, never stored


class StepCounterAdvancedTwice(_ReferenceAdamW):
    def _advance(self, state):
        state["step"] += 1
        t = float(state["step"].item())
        state["step"] += 1  # e.g. a wrapper that bumps the count once more
        return t


class StepCounterInBfloat16(_ReferenceAdam):
    def _advance(self, state):
        state["step"] = state["step"].to(torch.bfloat16) + 1  # exact only up to 256
        return float(state["step"].item())


class SharedStepCounter(_ReferenceAdam):
    """One count for all parameters: every stepped parameter gets 1 + the largest count."""

    def _hyper(self, gi, group):
        if gi == 0:
            counts = [float(s["step"]) for s in self.state.values() if "step" in s]
            self._shared_t = 1.0 + max(counts, default=0.0)
        return super()._hyper(gi, group)

    def _advance(self, state):
        state["step"] = torch.tensor(self._shared_t, dtype=torch.float32)
        return self._shared_t


# --- parameters without gradient, zero gradients, groups, lr = 0 -----------------------------


class DecaysParamsWithoutGrad(_ReferenceAdamW):
    def _no_grad(self, p, h):
        p.mul_(1.0 - h.lr * h.wd)


class AdvancesStateWithoutGrad(_ReferenceAdam):
    def _no_grad(self, p, h):
        state = self.state[p]
        if len(state) == 0:
            self._init_state(p, state, h)
        state["step"] += 1


class ZeroGradTreatedAsAbsent(_ReferenceAdamW):
    def _has_grad(self, p):
        return p.grad is not None and bool(p.grad.ne(0).any())


class FirstGroupWeightDecay(_ReferenceAdamW):
    def _hyper(self, gi, group):
        h = super()._hyper(gi, group)
        wd0 = float(self.param_groups[0]["weight_decay"])
        return _H(h.lr, h.beta1, h.beta2, h.eps, wd0, h.amsgrad, h.maximize)


class ZeroLrSkipsStep(_ReferenceAdamW):
    def _step_param(self, p, grad, h):
        if h.lr == 0.0:
            return  # "nothing to do" — but m, v, t must still advance
        super()._step_param(p, grad, h)


# --- validation ------------------------------------------------------------------------------


class NoValidation(_ReferenceAdam):
    def _validate(self, lr, betas, eps, weight_decay):
        pass


class ValidationLetsInfinityThrough(_ReferenceAdamW):
    def _validate(self, lr, betas, eps, weight_decay):
        if not 0.0 <= lr:  # rejects NaN and negatives, lets +inf through
            raise ValueError(f"Invalid learning rate lr: {lr!r}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon eps: {eps!r}")
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"Invalid beta{i + 1} (betas[{i}]): {b!r}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay: {weight_decay!r}")


class ValidationMessageUnnamed(_ReferenceAdam):
    def _validate(self, lr, betas, eps, weight_decay):
        try:
            super()._validate(lr, betas, eps, weight_decay)
        except ValueError:
            raise ValueError("invalid optimizer configuration") from None


# --- non-finite values, element coverage ----------------------------------------------------


class NaNGradientsMasked(_ReferenceAdamW):
    def _maximize(self, grad, h):
        g = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
        return -g if h.maximize else g


def _flat_positions(t, skip: slice):
    """Index that selects the elements at flat (row-major) positions ``skip`` of any layout."""
    pos = torch.arange(t.numel())[skip]
    if t.dim() == 0:
        return () if len(pos) else None
    return torch.unravel_index(pos, t.shape)


class _RestoresElements(_ReferenceAdam):
    """Runs the canonical step, then puts back the elements a buggy kernel never reaches."""

    def _skipped(self, n: int) -> slice:
        raise NotImplementedError

    def _step_param(self, p, grad, h):
        state = self.state[p]
        ix = _flat_positions(p, self._skipped(p.numel()))
        if ix is None:
            return super()._step_param(p, grad, h)
        kept = {"theta": p[ix].clone()}
        kept.update({k: s[ix].clone() for k, s in state.items() if k != "step"})
        super()._step_param(p, grad, h)
        p[ix] = kept["theta"]
        for k, s in state.items():
            if k != "step":
                s[ix] = kept[k] if k in kept else torch.zeros_like(s[ix])


class SkipsOddTailElement(_RestoresElements):
    def _skipped(self, n):
        return slice(n - 1, n) if n % 2 else slice(n, n)  # a pairwise body, no scalar tail


class OnlyFirst65536Elements(_RestoresElements):
    def _skipped(self, n):
        return slice(65536, n)  # one chunk of a multi-tensor kernel, the rest never launched


# ---------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    """A zoo member: the class, the mode it claims and what should reject it.

    expected_clauses: SPEC clause IDs; at least one of them must fail for this member (empty
        for a control). crashes: the member raises on some inputs by design, so an "error"
        verdict also counts as rejection.
    witness: a concrete input on which the member and the correct control disagree (see
        :func:`observe` for its keys).
    """

    name: str
    cls: type
    claim: str
    expected_clauses: tuple[str, ...]
    bug: str
    source: str
    witness: dict = field(default_factory=dict, compare=False, hash=False)
    crashes: bool = False


def _hp(lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False):
    return dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                maximize=maximize)


def _w1(theta, grad, *, state=None, dtype="float64", steps=1, **hyper):
    """A witness with one group, one parameter, the same gradient for ``steps`` steps."""
    return {"dtype": dtype,
            "groups": [{"hyper": _hp(**hyper), "params": [{"theta": theta, "state": state}]}],
            "grads": [[grad] for _ in range(steps)]}


def _st(m, v, step, vmax=None):
    return {"m": m, "v": v, "vmax": vmax, "step": step}


_GENERIC = _w1([1.0, -2.0, 0.5], [0.3, -0.1, 2.0], state=_st([0.1, 0.2, -0.3], [0.04, 0.01, 1.0], 7),
               lr=0.1, weight_decay=0.1)

MUTANTS: list[Mutant] = [
    # --- decoupled decay ---------------------------------------------------------------------
    Mutant("decay_after_update", DecayAfterUpdate, "adamw", ("AW-1", "AD-1", "AD-6", "VAR-2"),
           "decoupled decay multiplies the already updated parameter: (θ − α·u)·(1 − α·λ)",
           "huggingface/transformers #14539 (AdamW decayed p.data after the update); "
           "kyleliang919/C-Optim #3; stanford-cs336/assignment1-basics #54",
           _w1([1.0], [1.0], lr=1.0, weight_decay=0.5)),
    Mutant("decay_not_scaled_by_lr", DecayNotScaledByLr, "adamw", ("AW-4", "AW-1", "AW-3", "VAR-3"),
           "decoupled decay θ·(1 − λ), independent of the learning rate",
           "tensorflow/addons #2282 (DecoupledWeightDecayExtension subtracts wd·θ, not lr·wd·θ); "
           "pytorch/pytorch #38853 (the paper's η_t·λ form)",
           _w1([1.0], [0.0], lr=0.01, weight_decay=0.1)),
    Mutant("decay_scaled_by_bias_corrected_lr", DecayScaledByBiasCorrectedLr, "adamw",
           ("AW-4", "AW-1", "AW-3"),
           "decay scaled by the bias-corrected step size α/(1 − β1^t) instead of α",
           "Oneflow-Inc/oneflow PR #5960 review (bias correction folded into lr also scaled the "
           "weight decay)",
           _w1([1.0], [0.0], lr=0.01, weight_decay=0.5)),
    Mutant("coupled_l2_as_adamw", CoupledL2AsAdamW, "adamw", ("AW-2", "AW-3", "AW-1"),
           "coupled L2 (λθ added to the gradient) sold as AdamW",
           "nntrainer/nntrainer PR #3565 (AdamW applied its decay through the gradient); "
           "Loshchilov & Hutter 2019 §2",
           _w1([1.0], [0.0], state=_st([0.0], [1.0], 10), lr=0.1, weight_decay=0.1)),
    Mutant("decoupled_as_adam_l2", DecoupledAsAdamL2, "adam_l2", ("L2-1", "L2-2", "L2-3"),
           "decoupled decay sold as Adam with coupled L2 regularisation",
           "pytorch/pytorch PR #4429 (one l2_reg flag switching Adam between L2 and decoupled "
           "decay); Loshchilov & Hutter 2019 §2",
           _w1([1.0], [0.0], state=_st([0.0], [1.0], 10), lr=0.1, weight_decay=0.1)),
    Mutant("l2_only_in_first_moment", L2OnlyInFirstMoment, "adam_l2", ("L2-2", "AD-3", "L2-3"),
           "the L2 term enters m but v is built from the raw gradient",
           "SPEC L2-2 rationale (λθ in m only is neither Adam+L2 nor AdamW); no upstream report found",
           _w1([1.0], [0.0], lr=0.1, weight_decay=0.5)),
    # --- ε -------------------------------------------------------------------------------------
    Mutant("eps_hat", EpsHat, "adam", ("AD-5", "AD-7", "VAR-4"),
           "ε-hat: ε added to √v before the bias correction, i.e. ε/√(1 − β2^t) in the canonical form",
           "Kingma & Ba §2 (Keras/TF epsilon-hat); tensorflow/tensorflow #9047; keras-team/keras #17391",
           _w1([0.0], [1e-8], lr=0.1, eps=1e-8)),
    Mutant("eps_over_sqrt_bias_correction", EpsOverSqrtBc2, "adamw", ("AD-5", "AD-7", "VAR-4"),
           "ε scaled by 1/√(1 − β2^t) (same exact value as ε-hat, evaluated after the correction)",
           "aiqm/torchani PR #261 (ε scaled by √bias_correction2, inherited from pre-2019 "
           "torch.optim.Adam)",
           _w1([0.0], [1e-8], lr=0.1, eps=1e-8)),
    Mutant("eps_inside_root", EpsInsideRoot, "adam", ("AD-5", "AD-7", "VAR-4"),
           "ε inside the square root: m̂/√(v̂ + ε)",
           "keras-team/tf-keras #315; CyberZHG/keras-radam #29; FluxML/Flux.jl PR #448",
           _w1([0.0], [1e-3], lr=0.1, eps=1e-8)),
    Mutant("eps_squared_inside_root", EpsSquaredInsideRoot, "adamw", ("AD-5", "AD-7", "VAR-4"),
           "√(v̂ + ε²) in place of √v̂ + ε (the 'ε² inside' variant of the root placement)",
           "sail-sg/Adan #8 (ε inside the root in the paper, outside in the code); SPEC VAR-4",
           _w1([0.0], [1e-8], lr=0.1, eps=1e-8)),
    Mutant("denominator_floor", DenominatorFloor, "adam", ("AD-5", "AD-9", "AD-7"),
           "a hidden floor on √v̂ (clamp to 1e-12) to avoid division by ~0",
           "NVIDIA/apex PR #799 (guarding v̂ ≈ 0 in multi_tensor_adam); SPEC AD-9 rationale",
           _w1([0.0], [1e-14], lr=0.1, eps=0.0)),
    # --- bias correction ---------------------------------------------------------------------
    Mutant("no_bias_correction", NoBiasCorrection, "adam", ("AD-4", "AD-7", "VAR-5"),
           "no bias correction (m̂ = m, v̂ = v)",
           "BVLC/caffe #4224; oxiglade/mlx-rs #301",
           _w1([0.0], [1.0], lr=0.1)),
    Mutant("bias_correction_at_t_prev", BiasCorrectionAtPreviousStep, "adam", ("AD-4", "AD-1", "AD-7"),
           "bias correction with the count before the increment (t − 1): 1 − β^0 = 0 at the first "
           "step",
           "keras-team/keras PR #10129 review (correction at t = 0 divides by zero); SPEC AD-4 rationale",
           _w1([0.0], [1.0], state=_st([0.5], [0.5], 3), lr=0.1), crashes=True),
    Mutant("bias_correction_at_t_plus_1", BiasCorrectionAtNextStep, "adamw", ("AD-4", "AD-1", "AD-7"),
           "bias correction one step ahead (t + 1), a count started at 1 and incremented again",
           "Oneflow-Inc/oneflow PR #5960 review (a train step counted from 0 in one path and from 1 "
           "in another, '+1' inside the kernel)",
           _w1([0.0], [1.0], lr=0.1)),
    Mutant("bias_correction_m_only", BiasCorrectionFirstMomentOnly, "adam", ("AD-4", "AD-7"),
           "only the first moment is bias-corrected",
           "google-deepmind/optax PR #1423 (a separate bias_correction_v switch for AMSGrad); "
           "SPEC AD-4",
           _w1([0.0], [1.0], lr=0.1)),
    Mutant("bias_correction_v_only", BiasCorrectionSecondMomentOnly, "adamw", ("AD-4", "AD-7"),
           "only the second moment is bias-corrected",
           "online-ml/river PR #185 discussion (AMSGrad with m not bias-corrected); SPEC AD-4",
           _w1([0.0], [1.0], lr=0.1)),
    Mutant("beta_power_from_half_beta", BetaPowerFromHalfBeta, "adam", ("DT-4", "AD-4"),
           "β^t formed from β rounded to binary16 (held precision not declared)",
           "tenstorrent/tt-metal #55935 (β held in bf16: β2 = 0.999 becomes another β, β^t moves)",
           _w1([0.0], [1.0], state=_st([1.0], [1.0], 999), lr=0.1)),
    # --- moments -------------------------------------------------------------------------------
    Mutant("swapped_betas", SwappedBetas, "adam", ("AD-2", "AD-3", "AD-4"),
           "β1 and β2 swapped",
           "SPEC AD-2/AD-3 rationale (no single upstream report found)",
           _w1([0.0], [1.0], state=_st([0.0], [0.0], 5), lr=0.1)),
    Mutant("abs_grad_in_second_moment", AbsGradInSecondMoment, "adamw", ("AD-3", "AD-9"),
           "|g| instead of g² in the second moment",
           "SPEC AD-3 rationale (no single upstream report found)",
           _w1([0.0], [3.0], lr=0.1)),
    # --- AMSGrad -------------------------------------------------------------------------------
    Mutant("amsgrad_over_vhat", AmsgradOverVhat, "adam", ("AMS-1", "VAR-6"),
           "AMSGrad maximum over bias-corrected v̂ (stored corrected)",
           "google-deepmind/optax #1389 (optax took the max over v̂, torch/TF over v); "
           "pytorch/pytorch #142323",
           _w1([0.0], [0.0], state=_st([0.1], [0.5], 3, vmax=[1.0]), lr=0.1, amsgrad=True)),
    Mutant("amsgrad_max_not_stored", AmsgradMaxNotStored, "adamw", ("AMS-3", "AMS-1", "AMS-2"),
           "AMSGrad uses max(v_max, v) but never writes the maximum back",
           "ooples/AiDotNet PR #1350 review (the AMSGrad max buffer was not kept with the state); "
           "SPEC AMS-3",
           _w1([0.0], [1.0], lr=0.1, amsgrad=True)),
    Mutant("amsgrad_max_stored_in_v", AmsgradMaxStoredInV, "adam", ("AMS-1", "AD-3"),
           "the AMSGrad maximum overwrites exp_avg_sq (v) as well",
           "SPEC AMS-1 rationale (storing v_max in place of v breaks AD-3)",
           _w1([0.0], [0.0], state=_st([0.1], [0.5], 3, vmax=[1.0]), lr=0.1, amsgrad=True)),
    Mutant("amsgrad_max_drops_nan", AmsgradMaxDropsNaN, "adam", ("AMS-1", "NF-1", "NF-2"),
           "AMSGrad maximum with fmax: a NaN second moment hides behind the stale maximum",
           "SPEC AMS-1 rationale (a maximum that drops NaN); no upstream report found",
           _w1([0.0], [float("nan")], state=_st([0.0], [0.0], 3, vmax=[1.0]), lr=0.1, amsgrad=True)),
    # --- maximize ------------------------------------------------------------------------------
    Mutant("maximize_ignored", MaximizeIgnored, "adam", ("MAX-1", "MAX-2"),
           "maximize accepted but ignored",
           "kozistr/pytorch_optimizer PR #527 (seven optimizers took maximize and never applied it)",
           _w1([0.0], [1.0], lr=0.1, maximize=True)),
    Mutant("maximize_after_l2", MaximizeAfterL2, "adam_l2", ("MAX-1", "L2-1"),
           "maximize negates g + λθ, so the L2 term grows the weights",
           "kozistr/pytorch_optimizer PR #528 (maximize vs weight-decay order); SPEC L2-1 rationale",
           _w1([1.0], [0.0], lr=0.1, weight_decay=0.5, maximize=True)),
    Mutant("maximize_flips_update", MaximizeFlipsUpdate, "adam", ("MAX-1", "MAX-2", "AD-2"),
           "maximize implemented by flipping the step's sign: moments built from +g",
           "pytorch/pytorch PR #68164 review (flipping lr instead of the gradient leaves the "
           "statistics wrong)",
           _w1([0.0], [1.0], lr=0.1, maximize=True)),
    # --- inputs and in-place update ------------------------------------------------------------
    Mutant("l2_added_to_grad_in_place", L2AddedToGradInPlace, "adam_l2", ("MUT-1",),
           "coupled L2 written into p.grad in place (grad.add_(p, alpha=wd))",
           "pytorch/pytorch PR #12107 and #12218 (weight decay added to .grad in place)",
           _w1([1.0], [0.5], lr=0.1, weight_decay=0.1)),
    Mutant("maximize_negates_grad_in_place", MaximizeNegatesGradInPlace, "adamw", ("MUT-1",),
           "maximize negates p.grad in place (grad.neg_())",
           "kozistr/pytorch_optimizer PR #528 (in-place grad.neg_() in Adai); "
           "pytorch/pytorch PR #127214 review",
           _w1([1.0], [0.5], lr=0.1, maximize=True)),
    Mutant("out_of_place_update", OutOfPlaceUpdate, "adam", ("MUT-2",),
           "p.data = p − step: a new tensor replaces the parameter's storage",
           "nntrainer/nntrainer #241 (the optimizer updated a copy, not the model's weights); "
           "SPEC MUT-2",
           _w1([1.0], [0.5], lr=0.1)),
    # --- precision and dtypes -------------------------------------------------------------------
    Mutant("half_precision_arithmetic", HalfPrecisionArithmetic, "adamw",
           ("DT-2", "NUM-2", "NUM-3", "AD-1"),
           "the step computed in float16 for float32/float64 parameters (undeclared)",
           "tensorflow/tensorflow #2288 (Adam in fp16: ε = 1e-8 vanishes); SPEC DT-2",
           _w1([1.0], [1e-8], lr=0.1, dtype="float32")),
    Mutant("state_in_float32", StateInFloat32, "adam", ("DT-1", "DT-3", "NUM-2"),
           "m, v kept in float32 for float64 (and bfloat16) parameters, undeclared",
           "pytorch/pytorch #43706 (optimizer state dtype changed behind the user's back); "
           "nntrainer/nntrainer PR #3565 (state dtype policy)",
           _w1([1.0], [0.1], lr=0.1)),
    # --- step counter ---------------------------------------------------------------------------
    Mutant("step_counter_not_advanced", StepCounterNotAdvanced, "adam", ("STATE-2", "STATE-1", "AD-4"),
           "the count t_prev + 1 is used but never stored",
           "SPEC STATE-2; no single upstream report found",
           _w1([0.0], [1.0], lr=0.1, steps=2)),
    Mutant("step_counter_advanced_twice", StepCounterAdvancedTwice, "adamw",
           ("STATE-2", "STATE-1", "API-2", "AD-4"),
           "the count is advanced twice per step",
           "SPEC API-2 rationale (wrappers that step twice); clab/dynet #77 (count advanced per "
           "parameter update rather than per round)",
           _w1([0.0], [1.0], lr=0.1, steps=2)),
    Mutant("step_counter_in_bfloat16", StepCounterInBfloat16, "adam", ("STATE-5", "STATE-2", "AD-4"),
           "the step count held in bfloat16: t + 1 rounds back to t beyond 256",
           "pytorch/ao PR #4915 (Adam step counter saturating at 256 under a bf16 default dtype)",
           _w1([0.0], [1.0], state=_st([1.0], [1.0], 300), lr=0.1, betas=(0.9, 0.999))),
    Mutant("shared_step_counter", SharedStepCounter, "adam", ("STATE-2", "GRP-2", "AD-4"),
           "one step count for all parameters: a parameter that skipped steps gets the wrong t",
           "SPEC STATE-2 rationale (frozen layers, conditional branches); clab/dynet #77 (scope "
           "of the Adam step count)",
           {"dtype": "float64",
            "groups": [{"hyper": _hp(lr=0.1), "params": [{"theta": [0.0]}, {"theta": [0.0]}]}],
            "grads": [[[1.0], None], [[1.0], [1.0]]]}),
    # --- parameters without gradient, zero gradients, groups, lr = 0 ----------------------------
    Mutant("decays_params_without_grad", DecaysParamsWithoutGrad, "adamw", ("NOGRAD-1", "API-2"),
           "decoupled decay applied to parameters whose grad is None",
           "KellerJordan/Muon #54 (weight decay applied to parameters whose gradient is None)",
           {"dtype": "float64",
            "groups": [{"hyper": _hp(lr=0.1, weight_decay=0.5), "params": [{"theta": [1.0]},
                                                                            {"theta": [1.0]}]}],
            "grads": [[[1.0], None]]}),
    Mutant("advances_state_without_grad", AdvancesStateWithoutGrad, "adam", ("NOGRAD-2", "STATE-2"),
           "state created and the count advanced for parameters without gradient",
           "SPEC NOGRAD-2 rationale (a skipped parameter resumes with a wrong bias correction)",
           {"dtype": "float64",
            "groups": [{"hyper": _hp(lr=0.1), "params": [{"theta": [1.0]}, {"theta": [1.0]}]}],
            "grads": [[[1.0], None]]}),
    Mutant("zero_grad_treated_as_absent", ZeroGradTreatedAsAbsent, "adamw", ("NOGRAD-3", "AW-3"),
           "an all-zero gradient is skipped like a missing one (no decay, no count)",
           "SPEC NOGRAD-3 rationale (skipping unused embedding rows); no upstream report found",
           _w1([1.0], [0.0], lr=0.1, weight_decay=0.5)),
    Mutant("first_group_weight_decay", FirstGroupWeightDecay, "adamw", ("GRP-1", "GRP-3"),
           "every group decayed with the first group's weight_decay",
           "rwth-i6/returnn #1439 (per-parameter weight decay ignored, the global value used); "
           "SPEC GRP-1 rationale",
           {"dtype": "float64",
            "groups": [{"hyper": _hp(lr=0.1, weight_decay=0.5), "params": [{"theta": [1.0]}]},
                       {"hyper": _hp(lr=0.1, weight_decay=0.0), "params": [{"theta": [1.0]}]}],
            "grads": [[[0.0], [0.0]]]}),
    Mutant("zero_lr_skips_step", ZeroLrSkipsStep, "adamw", ("AD-11",),
           "lr = 0 returns early: m, v and t are frozen during warm-up",
           "SPEC AD-11 rationale (warm-up schedules start at α = 0); no upstream report found",
           _w1([1.0], [1.0], lr=0.0)),
    # --- validation ------------------------------------------------------------------------------
    Mutant("no_validation", NoValidation, "adam", ("VAL-1", "VAL-3", "VAL-2", "VAL-4", "VAL-5"),
           "no hyperparameter validation (negative lr, β ≥ 1 accepted)",
           "pytorch/pytorch PR #5147 and PR #6000; ml-explore/mlx PR #4310; tinygrad/tinygrad PR #15576",
           {"construct": dict(lr=-1.0), "name": "lr", "value": -1.0}),
    Mutant("validation_lets_infinity_through", ValidationLetsInfinityThrough, "adamw",
           ("VAL-1", "VAL-2", "VAL-4"),
           "range checks written as 0 <= x: NaN rejected, +inf accepted",
           "SPEC VAL-1 rationale; ml-explore/mlx PR #508 review (lr check `0.0 <= learning_rate`)",
           {"construct": dict(lr=float("inf")), "name": "lr", "value": float("inf")}),
    Mutant("validation_message_unnamed", ValidationMessageUnnamed, "adam", ("VAL-5",),
           "invalid values rejected with a message that names neither the hyperparameter nor the value",
           "pytorch/pytorch PR #36161 (C++ Adam checks reported every bad value as 'learning rate')",
           {"construct": dict(betas=(0.9, 1.0)), "name": "beta", "value": 1.0}),
    # --- non-finite values, element coverage -----------------------------------------------------
    Mutant("nan_gradients_masked", NaNGradientsMasked, "adamw", ("NF-1",),
           "non-finite gradients replaced by zeros (nan_to_num)",
           "SlopDotCash/asi PR #71 review (NaN mapped to zero hides a diverged gradient); "
           "facebookresearch/mmf PR #1073",
           _w1([1.0], [float("nan")], lr=0.1)),
    Mutant("skips_odd_tail_element", SkipsOddTailElement, "adam", ("STATE-4", "AD-8", "AD-1"),
           "a pairwise kernel body without a scalar tail: the last element of an odd size is skipped",
           "bytedance/lightseq PR #98 (Adam bug when the parameter size is below the block size); "
           "pytorch/pytorch PR #100811 (tail tensor skipped by MultiTensorApply)",
           _w1([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], lr=0.1)),
    Mutant("only_first_65536_elements", OnlyFirst65536Elements, "adam", ("STATE-4", "AD-1"),
           "only the first 65536 elements (one chunk) are updated",
           "NVIDIA/apex PR #1825 and deepspeedai/DeepSpeed PR #7639 (multi_tensor_apply size "
           "overflow: no parameter updates past a size)",
           _w1(np.zeros(65537).tolist(), np.ones(65537).tolist(), lr=0.1)),
]

CONTROLS: list[Mutant] = [
    Mutant("reference_adam", _ReferenceAdam, "adam", (), "(correct)", "SPEC canonical step", _GENERIC),
    Mutant("reference_adam_l2", _ReferenceAdam, "adam_l2", (), "(correct)", "SPEC canonical step",
           _GENERIC),
    Mutant("reference_adamw", _ReferenceAdamW, "adamw", (), "(correct)", "SPEC canonical step",
           _GENERIC),
]


def control_for(claim: str) -> type:
    """The correct class for a claimed mode."""
    return _ReferenceAdamW if claim == "adamw" else _ReferenceAdam


def adapter(m: Mutant) -> TorchClassAdapter:
    """The zoo member as an adamspec adapter (its class under its claimed mode)."""
    return TorchClassAdapter(m.cls, m.claim, name=f"zoo.{m.name}")


# ---------------------------------------------------------------------------------------------
# Witnesses: replayed with plain torch
# ---------------------------------------------------------------------------------------------

_TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16,
                 "float16": torch.float16}


def _construct(cls, witness: dict) -> dict:
    """Constructing ``cls`` with bad hyperparameters: was it rejected, and did it say why?"""
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    try:
        cls([p], **_hp(**witness["construct"]))
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
    ``grads`` (per step, one gradient or None per parameter, in parameter order).
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
    states = [p.get("state") for g in witness["groups"] for p in g["params"]]
    for p, s in zip(params, states):
        if s is not None:
            entry = {"step": torch.tensor(float(s["step"]), dtype=torch.float32),
                     "exp_avg": torch.tensor(s["m"], dtype=dt), "exp_avg_sq": torch.tensor(s["v"], dtype=dt)}
            if s.get("vmax") is not None:
                entry["max_exp_avg_sq"] = torch.tensor(s["vmax"], dtype=dt)
            opt.state[p] = entry
    in_place = [True] * len(params)
    grad_changed = [False] * len(params)
    for step_grads in witness["grads"]:
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
