"""``mlx.adam``, ``mlx.adamw`` and their ``.bias-corrected`` forms: MLX 0.32.4's ``Adam`` and
``AdamW`` (``mlx[cpu]``), stepped as its documentation does (``apply_gradients`` on a parameter
tree, evaluated with ``mx.eval``).

Capabilities, from MLX 0.32.4's source (``mlx/optimizers/optimizers.py``):

- ``Adam(learning_rate, betas, eps, bias_correction=False)``: ``m = β₁m + (1 − β₁)g``,
  ``v = β₂v + (1 − β₂)g²``, θ − α·m/(√v + ε) by default, which is SPEC VAR-5
  ``bias_correction = false`` (documented: "Default: False"), declared so on ``mlx.adam|adamw``.
  With ``bias_correction=True``: ``(α/(1 − β₁^t))·m / (√v·(1 − β₂^t)^(−½) + ε)``, the canonical
  step rearranged (``.bias-corrected``). Adam has no weight decay (mode adam only); ``AdamW`` decays
  θ·(1 − α·λ) first and then takes Adam's step from it (mode adamw).
- step count: one ``state["step"]`` (uint64) per optimizer, so per group here; a parameter missing
  from the gradient tree is left alone but the count advances for all, so cases whose parameters
  of a group start at different counts, or lack a gradient, are not applicable.
- compute: every operation in the parameters' dtype (float32, bfloat16, float16). Held precision:
  α is an ``mx.array`` (float32) cast to the gradient's dtype, β and ε are Python floats taken at
  the array's dtype: scalars in the storage dtype; β^t from the uint64 count in float32.
- validation: ``0 ≤ β < 1`` and ``0 ≤ ε`` are checked, the learning rate and the weight decay not.
- no AMSGrad, no maximize, functional (new arrays: MUT-1/MUT-2 do not apply), no memory layouts.
"""

from __future__ import annotations

from dataclasses import replace

import ml_dtypes
import numpy as np

from adamspec.adapters.base import Capabilities, ParamState, refuse_undeclared_modes
from adamspec.adapters.third_party import PerGroupSession, version_unavailable
from adamspec.reference.hyper import CANONICAL, Hyper, Mode

MLX_VERSION = "0.32.4"  # the version this adapter's capabilities were read from and tested with
_DTYPES = ("float32", "bfloat16", "float16")
FLAVOURS = {"": False, "bias-corrected": True}  # name suffix -> bias_correction
# torch's constructor keywords (adapters/base.py: CONSTRUCT_KWARGS) in MLX's spelling
_COUNT_ADVANCES = "a parameter without a gradient would still see the one count advance"
_MLX_KWARGS = {"lr": "learning_rate", "eps": "eps", "weight_decay": "weight_decay", "betas": "betas"}


def mlx_unavailable_reason() -> str | None:
    return version_unavailable("mlx", MLX_VERSION, "pip install -c constraints.txt 'adamspec[mlx]'")


def _mx():
    import mlx.core as mx
    import mlx.optimizers as optimizers

    return mx, optimizers


def _to_mx(a: np.ndarray):
    """numpy (ml_dtypes.bfloat16 included) to an mx array of the same dtype, exactly."""
    mx, _ = _mx()
    a = np.asarray(a)
    if a.dtype == ml_dtypes.bfloat16:
        return mx.array(a.astype(np.float32)).astype(mx.bfloat16)  # widening and back: exact
    return mx.array(a)


def _to_numpy(x, dtype) -> np.ndarray:
    mx, _ = _mx()
    return np.array(x.astype(mx.float32)).astype(dtype) if x.dtype == mx.bfloat16 else np.array(x)


class _Group:
    """One parameter group: its own optimizer (MLX keeps one count per optimizer)."""

    def __init__(self, group, states, count: int | None, bias_correction: bool):
        mx, optimizers = _mx()
        h = group.hyper
        self.mode = h.mode
        kw = {"learning_rate": h.lr, "betas": [h.beta1, h.beta2], "eps": h.eps, "bias_correction": bias_correction}
        self.opt = optimizers.AdamW(**kw, weight_decay=h.weight_decay) if h.mode is Mode.ADAMW \
            else optimizers.Adam(**kw)
        self.dtypes = [np.asarray(a).dtype for a in group.params]
        self.keys = [str(i) for i in range(len(group.params))]
        self.params = {k: _to_mx(a) for k, a in zip(self.keys, group.params)}
        self.opt.init(self.params)
        if count is not None:
            self.opt.state["step"] = mx.array(count, mx.uint64)  # the dict itself: the setter re-initialises
            for k, st in zip(self.keys, states):
                self.opt.state[k]["m"], self.opt.state[k]["v"] = _to_mx(st.m), _to_mx(st.v)
        self.stepped = count is not None

    def step(self, grads):
        mx, _ = _mx()
        self.params = self.opt.apply_gradients({k: _to_mx(g) for k, g in zip(self.keys, grads)}, self.params)
        mx.eval(self.params, self.opt.state)
        self.stepped = True

    def set_hypers(self, h: Hyper):
        self.opt.learning_rate = h.lr
        self.opt.betas, self.opt.eps = [h.beta1, h.beta2], h.eps
        if self.mode is Mode.ADAMW:
            self.opt.weight_decay = h.weight_decay

    def read(self) -> list[ParamState]:
        thetas = [_to_numpy(self.params[k], dt) for k, dt in zip(self.keys, self.dtypes)]
        if not self.stepped:
            return [ParamState(t) for t in thetas]
        step = int(self.opt.state["step"].item())
        return [ParamState(t, _to_numpy(self.opt.state[k]["m"], dt), _to_numpy(self.opt.state[k]["v"], dt), None, step)
                for t, k, dt in zip(thetas, self.keys, self.dtypes)]


class MlxAdapter:
    def __init__(self, family: str, flavour: str = ""):
        if family not in ("adam", "adamw") or flavour not in FLAVOURS:
            raise ValueError(f"unknown adapter mlx.{family}{'.' + flavour if flavour else ''}")
        self.family, self.bias_correction = family, FLAVOURS[flavour]
        cls = "AdamW" if family == "adamw" else "Adam"
        self.capabilities = Capabilities(
            name=f"mlx.{family}" + (f".{flavour}" if flavour else ""),
            modes=frozenset({family}),
            dtypes=frozenset(_DTYPES),
            compute={d: d for d in _DTYPES},
            scalars="float32",
            scalars_by_storage={"bfloat16": "bfloat16", "float16": "float16"},
            amsgrad=False,
            maximize=False,
            max_step=2**24,  # β^t is formed in float32 from the count: exact up to 2^24
            variant=CANONICAL if self.bias_correction else replace(CANONICAL, bias_correction=False),
            notes=f"mlx {MLX_VERSION} (CPU) mlx.optimizers.{cls}(bias_correction={self.bias_correction}), "
                  "apply_gradients; one count per group",
        )

    def unavailable_reason(self) -> str | None:
        return mlx_unavailable_reason()

    def construct(self, **kwargs):
        """The class called with the keywords in MLX's spelling (an option it lacks is refused)."""
        _, optimizers = _mx()
        out = {_MLX_KWARGS.get(k, k): (list(v) if k == "betas" else v) for k, v in kwargs.items()}
        out.setdefault("learning_rate", 1e-3)
        return (optimizers.AdamW if self.family == "adamw" else optimizers.Adam)(
            **out, bias_correction=self.bias_correction)

    def open(self, groups, states):
        refuse_undeclared_modes(self.capabilities, groups)
        return PerGroupSession(groups, states, lambda g, st, count: _Group(g, st, count, self.bias_correction),
                               "MLX", _COUNT_ADVANCES)
