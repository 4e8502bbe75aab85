"""The zoo's wrong optimizers: each overrides exactly one hook of ``ReferenceAdam`` (or sets one
class attribute), so that each differs from a correct implementation in one place. What each
stands for, and what must reject it, is in catalogue.py.
"""

from __future__ import annotations

import math

import torch

from adamspec.selftest.zoo.reference_adam import GroupHyper, ReferenceAdam, ReferenceAdamW

# --- decoupled decay -----------------------------------------------------------------------


class DecayAfterUpdate(ReferenceAdamW):
    decay_before_update = False  # decays θ_{t−1} − α·u instead of θ_{t−1}


class DecayNotScaledByLr(ReferenceAdamW):
    def _decay(self, p, h, t):
        p.mul_(1.0 - h.wd)


class CorrectedDecay(ReferenceAdamW):
    """timm's corrected_weight_decay, undeclared: θ·(1 − (α²/α_max)·λ) (SPEC VAR-3 corrected). timm
    snapshots α_max from the constructor's lr; here it is the largest lr the group has stepped
    with, kept in the group (so state_dict carries it), which is the same for a decaying schedule
    and also serves a warm-up from 0. It equals canonical until a schedule lowers α."""

    def _hyper(self, gi, group):
        group["max_lr"] = max(float(group.get("max_lr", 0.0)), float(group["lr"]))
        self._max_lr = group["max_lr"]
        return super()._hyper(gi, group)

    def _decay(self, p, h, t):
        scale = h.lr * h.lr / self._max_lr if self._max_lr > 0 else 0.0
        p.mul_(1.0 - scale * h.wd)


class DecayScaledByBiasCorrectedLr(ReferenceAdamW):
    def _decay(self, p, h, t):
        p.mul_(1.0 - h.lr / (1.0 - h.beta1**t) * h.wd)  # the step size α/(1 − β1^t) reused


class CoupledL2AsAdamW(ReferenceAdam):
    """Coupled L2 (decoupled = False) shipped as AdamW."""


class DecoupledAsAdamL2(ReferenceAdamW):
    """Decoupled decay (decoupled = True) shipped as Adam with L2 regularisation."""


class L2OnlyInFirstMoment(ReferenceAdam):
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


class EpsHat(ReferenceAdam):
    """Kingma & Ba's 'efficient' form: α_t = α·√(1 − β2^t)/(1 − β1^t), denominator √v + ε."""

    def _denom(self, vv, bc2, h):
        return (vv.sqrt().add_(h.eps)).div_(math.sqrt(bc2))


class EpsOverSqrtBc2(ReferenceAdamW):
    def _denom(self, vv, bc2, h):
        return (vv.sqrt() / math.sqrt(bc2)).add_(h.eps / math.sqrt(bc2))


class EpsInsideRoot(ReferenceAdam):
    def _denom(self, vv, bc2, h):
        return (vv / bc2).add_(h.eps).sqrt_()


class EpsSquaredInsideRoot(ReferenceAdamW):
    def _denom(self, vv, bc2, h):
        return (vv / bc2).add_(h.eps * h.eps).sqrt_()


class EpsFloor(ReferenceAdamW):
    """ε as a floor on the root, max(√v̂, ε) (SPEC VAR-4 floor), computed and not declared."""

    def _denom(self, vv, bc2, h):
        return torch.clamp(vv.sqrt() / math.sqrt(bc2), min=h.eps)  # clamp propagates NaN


class DenominatorFloor(ReferenceAdam):
    def _denom(self, vv, bc2, h):
        return (vv.sqrt() / math.sqrt(bc2)).clamp_(min=1e-12).add_(h.eps)


# --- bias correction -------------------------------------------------------------------------


class NoBiasCorrection(ReferenceAdam):
    def _bias_corrections(self, h, t):
        return 1.0, 1.0


class BiasCorrectionAtPreviousStep(ReferenceAdam):
    def _bias_corrections(self, h, t):
        return 1.0 - h.beta1 ** (t - 1), 1.0 - h.beta2 ** (t - 1)  # 0 at the first step


class BiasCorrectionAtNextStep(ReferenceAdamW):
    def _bias_corrections(self, h, t):
        return 1.0 - h.beta1 ** (t + 1), 1.0 - h.beta2 ** (t + 1)


class BiasCorrectionFirstMomentOnly(ReferenceAdam):
    def _bias_corrections(self, h, t):
        return 1.0 - h.beta1**t, 1.0


class BiasCorrectionSecondMomentOnly(ReferenceAdamW):
    def _bias_corrections(self, h, t):
        return 1.0, 1.0 - h.beta2**t


class BetaPowerFromHalfBeta(ReferenceAdam):
    def _bias_corrections(self, h, t):
        b1 = float(torch.tensor(h.beta1, dtype=torch.float16))  # β held in binary16 for β^t
        b2 = float(torch.tensor(h.beta2, dtype=torch.float16))
        return 1.0 - b1**t, 1.0 - b2**t


# --- moments ---------------------------------------------------------------------------------


class SwappedBetas(ReferenceAdam):
    def _hyper(self, gi, group):
        h = super()._hyper(gi, group)
        return GroupHyper(h.lr, h.beta2, h.beta1, h.eps, h.wd, h.amsgrad, h.maximize)


class AbsGradInSecondMoment(ReferenceAdamW):
    def _moments(self, state, g, h):
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(g, 1.0 - h.beta1)
        v.mul_(h.beta2).add_(g.abs(), alpha=1.0 - h.beta2)
        return m, v


# --- AMSGrad ---------------------------------------------------------------------------------


class AmsgradOverVhat(ReferenceAdam):
    """v̂_max = max(v̂_max, v_t/(1 − β2^t)) stored corrected, used without further correction."""

    def _amsgrad(self, state, v, h):
        bc2 = 1.0 - h.beta2 ** float(state["step"].item())
        vmax = state["max_exp_avg_sq"]
        torch.maximum(vmax, v / bc2, out=vmax)
        return vmax * bc2  # so that the canonical division by bc2 leaves v̂_max


class AmsgradMaxNotStored(ReferenceAdamW):
    def _amsgrad(self, state, v, h):
        return torch.maximum(state["max_exp_avg_sq"], v)  # used, never written back


class AmsgradMaxStoredInV(ReferenceAdam):
    def _amsgrad(self, state, v, h):
        vmax = state["max_exp_avg_sq"]
        torch.maximum(vmax, v, out=vmax)
        v.copy_(vmax)  # exp_avg_sq overwritten by the maximum
        return vmax


class AmsgradMaxDropsNaN(ReferenceAdam):
    def _amsgrad(self, state, v, h):
        vmax = state["max_exp_avg_sq"]
        torch.fmax(vmax, v, out=vmax)  # fmax ignores a NaN operand
        return vmax


# --- maximize --------------------------------------------------------------------------------


class MaximizeIgnored(ReferenceAdam):
    def _maximize(self, grad, h):
        return grad


class MaximizeAfterL2(ReferenceAdam):
    def _effective_grad(self, p, grad, h):
        g = grad.add(p, alpha=h.wd) if h.wd != 0.0 else grad
        return -g if h.maximize else g  # negates the L2 term too


class MaximizeFlipsUpdate(ReferenceAdam):
    """Maximize by flipping the learning rate: moments built from +g."""

    def _maximize(self, grad, h):
        return grad

    def _apply(self, p, m, denom, h, bc1):
        p.addcdiv_(m, denom, value=(h.lr if h.maximize else -h.lr) / bc1)


# --- inputs and in-place update --------------------------------------------------------------


class L2AddedToGradInPlace(ReferenceAdam):
    def _l2(self, p, g, h):
        return g.add_(p, alpha=h.wd)  # writes λθ into p.grad


class MaximizeNegatesGradInPlace(ReferenceAdamW):
    def _maximize(self, grad, h):
        return grad.neg_() if h.maximize else grad


class OutOfPlaceUpdate(ReferenceAdam):
    def _apply(self, p, m, denom, h, bc1):
        p.data = p.addcdiv(m, denom, value=-h.lr / bc1)  # a new tensor behind the Parameter


# --- precision and dtypes --------------------------------------------------------------------


class HalfPrecisionArithmetic(ReferenceAdamW):
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


class StateInFloat32(ReferenceAdam):
    """m, v (and v_max) kept in float32 whatever the parameter's dtype, undeclared."""

    def _init_state(self, p, state, h):
        state["step"] = torch.tensor(0.0, dtype=torch.float32)
        for k in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if h.amsgrad else ()):
            state[k] = torch.zeros(p.shape, dtype=torch.float32)


# --- step counter ----------------------------------------------------------------------------


class StepCounterNotAdvanced(ReferenceAdam):
    def _advance(self, state):
        return float(state["step"].item()) + 1.0  # used, never stored


class StepCounterAdvancedTwice(ReferenceAdamW):
    def _advance(self, state):
        state["step"] += 1
        t = float(state["step"].item())
        state["step"] += 1  # e.g. a wrapper that bumps the count once more
        return t


class StepCounterInBfloat16(ReferenceAdam):
    def _advance(self, state):
        state["step"] = state["step"].to(torch.bfloat16) + 1  # exact only up to 256
        return float(state["step"].item())


class SharedStepCounter(ReferenceAdam):
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


class DecaysParamsWithoutGrad(ReferenceAdamW):
    def _no_grad(self, p, h):
        p.mul_(1.0 - h.lr * h.wd)


class AdvancesStateWithoutGrad(ReferenceAdam):
    def _no_grad(self, p, h):
        state = self.state[p]
        if len(state) == 0:
            self._init_state(p, state, h)
        state["step"] += 1


class ZeroGradTreatedAsAbsent(ReferenceAdamW):
    def _has_grad(self, p):
        return p.grad is not None and bool(p.grad.ne(0).any())


class FirstGroupWeightDecay(ReferenceAdamW):
    def _hyper(self, gi, group):
        h = super()._hyper(gi, group)
        wd0 = float(self.param_groups[0]["weight_decay"])
        return GroupHyper(h.lr, h.beta1, h.beta2, h.eps, wd0, h.amsgrad, h.maximize)


class ZeroLrSkipsStep(ReferenceAdamW):
    def _step_param(self, p, grad, h):
        if h.lr == 0.0:
            return  # "nothing to do" — but m, v, t must still advance
        super()._step_param(p, grad, h)


# --- schedules and resumption (SPEC GRP-4, STATE-6) ----------------------------------------


class CachesLrAtFirstStep(ReferenceAdamW):
    """A kernel that captures each group's lr and betas at its first step and keeps them."""

    def _hyper(self, gi, group):
        h = super()._hyper(gi, group)
        cached = self.__dict__.setdefault("_cached", {})
        first = cached.setdefault(gi, h)
        return GroupHyper(first.lr, first.beta1, first.beta2, h.eps, h.wd, h.amsgrad, h.maximize)


class OwnStepCounter(ReferenceAdam):
    """A step counter kept on the optimizer object beside the state: a fresh instance (a resumed
    run) starts it again, so the bias correction restarts; the state's count is written, not read."""

    def _advance(self, state):
        counts = self.__dict__.setdefault("_counts", {})
        key = id(state)
        counts[key] = counts.get(key, 0) + 1
        state["step"] += 1
        return float(counts[key])


class ZeroLrFirstStepSkipsStateInit(ReferenceAdamW):
    """At lr = 0 a parameter's first step creates no state ("nothing to update yet"), so a
    warm-up from 0 loses its first gradient and counts one step short from then on."""

    def _step_param(self, p, grad, h):
        if h.lr == 0.0 and len(self.state[p]) == 0:
            return
        super()._step_param(p, grad, h)


# --- validation ------------------------------------------------------------------------------


class NoValidation(ReferenceAdam):
    def _validate(self, lr, betas, eps, weight_decay):
        pass


class ValidationLetsInfinityThrough(ReferenceAdamW):
    def _validate(self, lr, betas, eps, weight_decay):
        if not lr >= 0.0:  # rejects NaN and negatives, lets +inf through
            raise ValueError(f"Invalid learning rate lr: {lr!r}")
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon eps: {eps!r}")
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"Invalid beta{i + 1} (betas[{i}]): {b!r}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay: {weight_decay!r}")


class ValidationMessageUnnamed(ReferenceAdam):
    def _validate(self, lr, betas, eps, weight_decay):
        try:
            super()._validate(lr, betas, eps, weight_decay)
        except ValueError:
            raise ValueError("invalid optimizer configuration") from None


# --- non-finite values, element coverage ----------------------------------------------------


class NaNGradientsMasked(ReferenceAdamW):
    def _maximize(self, grad, h):
        g = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
        return -g if h.maximize else g


def _flat_positions(t, skip: slice):
    """Index that selects the elements at flat (row-major) positions ``skip`` of any layout."""
    pos = torch.arange(t.numel())[skip]
    if t.dim() == 0:
        return () if len(pos) else None
    return torch.unravel_index(pos, t.shape)


class _RestoresElements(ReferenceAdam):
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
