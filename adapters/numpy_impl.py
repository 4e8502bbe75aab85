"""A plain numpy implementation of the Adam family, written from the spec.

It computes in the parameter's own dtype (float64, float32, or bfloat16 through
ml_dtypes, which rounds every operation), in one of several evaluation orders real
kernels use. The orders exist so the error bound can be shown to hold for each of
them; all are correct implementations of the same formula. The textbook order also
computes any declared variant (SPEC VAR-*), written here from the spec's formulas and
independently of the reference.
"""

from __future__ import annotations

import pickle

import numpy as np

from adamspec.adapters.base import Capabilities, ParamState, refuse_undeclared_modes
from adamspec.reference import knobs
from adamspec.reference.hyper import CANONICAL, KNOBS, Hyper, Mode, Variant

ORDERS = ("textbook", "torch_forloop", "lerp", "capturable", "step_size_first")


def numpy_step(theta, grad, m, v, vmax, t_prev: int, h: Hyper, order: str = "textbook",
               variant: Variant = CANONICAL):
    """One step in the arrays' dtype; returns (θ, m, v, vmax, t). Inputs are not modified.

    A non-canonical ``variant`` is computed in the textbook order only.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}")
    if variant != CANONICAL:
        return _variant_step(theta, grad, m, v, vmax, t_prev, h, order, variant)
    dt = theta.dtype.type
    t = t_prev + 1
    s = lambda x: dt(x)  # noqa: E731 - a scalar as the kernel holds it (rounded to dtype)
    with np.errstate(all="ignore"):
        g = -grad if h.maximize else grad.copy()
        th = theta.copy()
        if h.mode is Mode.ADAM_L2 and h.weight_decay != 0.0:  # AD-13: no 0·θ term at λ = 0
            g = g + s(h.weight_decay) * th
        elif h.mode is Mode.ADAMW:
            if order == "capturable":
                th = th - s(h.lr * h.weight_decay) * th  # θ − αλθ
            else:
                th = th * s(1 - h.lr * h.weight_decay)
        if order == "lerp":
            m1 = m + s(1 - h.beta1) * (g - m)
            v1 = v + s(1 - h.beta2) * (g * g - v)
        else:
            m1 = s(h.beta1) * m + s(1 - h.beta1) * g
            v1 = s(h.beta2) * v + (s(1 - h.beta2) * g) * g
        vd = v1
        vmax1 = None
        if h.amsgrad:
            vmax1 = np.maximum(vmax, v1)
            vd = vmax1
        bc1, bc2 = 1 - h.beta1**t, 1 - h.beta2**t  # binary64, as a Python host computes them
        if order == "textbook":
            upd = (m1 / s(bc1)) / (np.sqrt(vd / s(bc2)) + s(h.eps))
            th1 = th - s(h.lr) * upd
        elif order in ("torch_forloop", "lerp"):
            denom = np.sqrt(vd) / s(bc2**0.5) + s(h.eps)
            th1 = th + s(-h.lr / bc1) * (m1 / denom)
        elif order == "step_size_first":  # (α/bc1)·m first, then ÷ D: torch's fused CPU kernel
            denom = np.sqrt(vd) / s(bc2**0.5) + s(h.eps)
            th1 = th - (s(h.lr / bc1) * m1) / denom
        else:  # capturable: fold −α/bc1 into the denominator
            # IEEE scalars, as on a device: at lr = 0 this form divides by −0 and yields
            # NaN/inf where the formula gives θ, so it is only a correct order for lr > 0.
            step_neg = np.float64(-h.lr) / np.float64(bc1)
            denom = np.sqrt(vd) / s(bc2**0.5 * step_neg) + s(h.eps / step_neg)
            th1 = th + m1 / denom
    return th1.astype(theta.dtype), m1, v1, vmax1, t


# The knobs whose NUMPY pieces (reference/knobs/<knob>.py) ``_variant_step`` calls.
CALLS = ("decay_order", "decay_scale", "eps_placement", "bias_correction", "amsgrad_over")


def _variant_step(theta, grad, m, v, vmax, t_prev: int, h: Hyper, order: str, variant: Variant):
    """The textbook order under a declared variant (SPEC VAR-2 to VAR-6): each knob value's
    formula is its module's NUMPY piece (reference/knobs/<knob>.py), written from the VAR
    formulas in the storage dtype, separately from the exact reference's EXACT piece."""
    if order != "textbook":
        raise ValueError(f"a variant is computed in the textbook order only, not {order!r}")
    f = {}
    for knob in KNOBS.keys() - CALLS:  # a knob module whose NUMPY piece is called nowhere below
        raise ValueError(f"numpy_step does not implement the knob {knob}")
    for knob in KNOBS:
        try:
            f[knob] = knobs.piece("NUMPY", knob, getattr(variant, knob), "numpy_step")
        except NotImplementedError as e:
            raise ValueError(str(e)) from None
    dt = theta.dtype.type
    t = t_prev + 1
    s = lambda x: dt(x)  # noqa: E731 - a scalar as the kernel holds it (rounded to dtype)
    lr, scale = f["decay_scale"](h, variant)  # VAR-3: α or η·α; α, 1, η or α²/α_max
    d = 1 - scale * h.weight_decay if h.mode is Mode.ADAMW else 1.0
    with np.errstate(all="ignore"):
        g = -grad if h.maximize else grad.copy()
        th = theta.copy()
        if h.mode is Mode.ADAM_L2 and h.weight_decay != 0.0:
            g = g + s(h.weight_decay) * th
        m1 = s(h.beta1) * m + s(1 - h.beta1) * g
        v1 = s(h.beta2) * v + (s(1 - h.beta2) * g) * g
        bc1, bc2 = f["bias_correction"](h, t)  # VAR-5, binary64 as a Python host computes them
        vd, corrected, vmax1 = v1, False, None
        if h.amsgrad:  # VAR-6: the maximum over v, or over v̂ (then stored corrected)
            cand, corrected = f["amsgrad_over"](v1, s(bc2))
            vmax1 = np.maximum(vmax, cand)
            vd = vmax1
        vhat = vd if corrected else vd / s(bc2)
        upd = f["eps_placement"](m1, vhat, vd, corrected, bc1, bc2, h, variant, s)  # VAR-4
        th1 = f["decay_order"](th, s(lr) * upd, s(d) if h.mode is Mode.ADAMW else None)  # VAR-2
    return th1.astype(theta.dtype), m1, v1, vmax1, t


class NumpySession:
    def __init__(self, groups, states, order, variant: Variant = CANONICAL):
        self.order, self.variant = order, variant
        self.hypers, self.items = [], []
        self._sizes = [len(g.params) for g in groups]
        for group in groups:
            for a in group.params:
                self.hypers.append(group.hyper)
                self.items.append(ParamState(np.array(a, copy=True)))
        for i, st in enumerate(states):
            if st is not None and st.step is not None:
                self.items[i] = ParamState(self.items[i].theta, st.m.copy(), st.v.copy(),
                                           None if st.vmax is None else st.vmax.copy(), st.step)

    def step(self, grads):
        for i, (g, h) in enumerate(zip(grads, self.hypers, strict=True)):
            if g is None:  # NOGRAD-1/2: untouched, no state created
                continue
            it = self.items[i]
            if it.step is None:
                z = np.zeros_like(it.theta)
                it = ParamState(it.theta, z, z.copy(), z.copy() if h.amsgrad else None, 0)
            out = numpy_step(it.theta, np.asarray(g, dtype=it.theta.dtype), it.m, it.v, it.vmax,
                             it.step, h, self.order, self.variant)
            self.items[i] = ParamState(*out)

    def set_hypers(self, hypers):
        """Each group's hyperparameters from the next step on (SPEC GRP-4)."""
        self.hypers = [h for h, n in zip(hypers, self._sizes, strict=True) for _ in range(n)]

    def resume(self):
        """The state through a checkpoint as bytes (pickle, this implementation's own format),
        restored as new objects that go on (SPEC STATE-6)."""
        self.hypers, self.items = pickle.loads(pickle.dumps((self.hypers, self.items)))  # noqa: S301 - our own bytes

    def read(self):
        return [ParamState(*(None if a is None else (a.copy() if isinstance(a, np.ndarray) else a)
                             for a in (it.theta, it.m, it.v, it.vmax, it.step))) for it in self.items]

    def close(self):
        self.items = []


class NumpyAdapter:
    """``numpy.adam`` / ``numpy.adamw``: the spec in plain numpy, computing in the storage dtype."""

    def __init__(self, family: str, order: str = "textbook", variant: Variant = CANONICAL):
        if family not in ("adam", "adamw"):
            raise ValueError(f"unknown numpy adapter numpy.{family}")
        if variant != CANONICAL and order != "textbook":
            raise ValueError(f"a variant is computed in the textbook order only, not {order!r}")
        self.family, self.order, self.variant = family, order, variant
        suffix = "" if order == "textbook" else f"[{order}]"
        if variant != CANONICAL:
            suffix = "[" + ",".join(f"{k}={v}" for k, v in variant.departures().items()) + "]"
        dtypes = ("float64", "float32", "bfloat16")
        self.capabilities = Capabilities(
            name=f"numpy.{family}{suffix}",
            modes=frozenset({"adamw"} if family == "adamw" else {"adam", "adam_l2"}),
            dtypes=frozenset(dtypes),
            compute={d: d for d in dtypes},
            variant=variant,  # declared: the engine judges against this variant's exact step (VAR-1)
            notes=f"plain numpy from the spec, evaluation order {order!r}",
        )

    def construct(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, **flags):
        """Validation is the reference's own (SPEC VAL-*): Hyper refuses bad values."""
        mode = "adamw" if self.family == "adamw" else ("adam_l2" if weight_decay else "adam")
        return Hyper(lr=lr, beta1=betas[0], beta2=betas[1], eps=eps, weight_decay=weight_decay,
                     mode=mode, **flags)

    def open(self, groups, states):
        refuse_undeclared_modes(self.capabilities, groups)
        return NumpySession(groups, states, self.order, self.variant)
