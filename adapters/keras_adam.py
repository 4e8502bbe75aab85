"""``keras.adam.<backend>`` and ``keras.adamw.<backend>``: Keras 3.15.1's ``Adam`` and ``AdamW`` on the
jax or the torch backend (CPU), stepped as a custom training loop does (``optimizer.apply(grads,
variables)`` on ``keras.Variable`` s).

Capabilities, from Keras 3.15.1's source (``keras/src/optimizers/adam.py``, ``base_optimizer.py``):

- ``update_step``: ``m += (g − m)(1 − β₁)``, ``v += (g² − v)(1 − β₂)``, and
  θ −= m·α̂/(√v + ε) with α̂ = α·√(1 − β₂^t)/(1 − β₁^t): ε added to the uncorrected root, the
  Adam paper's "epsilon hat", as the ``epsilon`` docstring says. Declared: SPEC VAR-4
  ``eps_placement = hat``. ``amsgrad`` keeps the maximum of the raw v (canonical VAR-6).
- weight decay: every Keras optimizer takes ``weight_decay`` and applies θ − θ·λ·α before the update
  (``_apply_weight_decay``), decoupled; ``AdamW`` only sets a default λ. So ``keras.adam`` is declared
  modes adam (λ = 0) and adamw, never adam_l2.
- step count: one ``iterations`` variable (int64) per optimizer, so per group here; a variable
  without a gradient is not applicable (the count advances for all).
- compute: every operation in the variable's dtype; α, β and ε cast to it, and t too
  (``ops.cast(iterations + 1, dtype)``): scalars in float32, the count exact up to 2^24.
- the backend is fixed when keras is first imported (``KERAS_BACKEND``): one backend per process.
  float64 is not declared (on jax it needs x64 before keras is imported).
- validation: ``learning_rate``, β, ε and ``weight_decay`` are not checked at construction.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import replace

import ml_dtypes
import numpy as np

from adamspec.adapters.base import AdapterError, Capabilities, ParamState, refuse_undeclared_modes
from adamspec.adapters.third_party import PerGroupSession, version_unavailable
from adamspec.reference.hyper import CANONICAL, Hyper, Mode

KERAS_VERSION = "3.15.1"  # the version this adapter's capabilities were read from and tested with
BACKENDS = ("jax", "torch")
FAMILIES = {"adam": frozenset({"adam", "adamw"}), "adamw": frozenset({"adamw"})}
# bfloat16 and float16 are not declared: β is cast to the variable's dtype before β^t, and β₂ = 0.999
# (bfloat16) or 0.999999 (both) becomes 1.0, so 1 − β^t = 0: no step, or a NaN one
# (tests/test_keras.py). Keras' mixed precision keeps variables in float32, which is judged.
_DTYPES = ("float32",)
_KERAS_KWARGS = {"lr": "learning_rate", "eps": "epsilon", "weight_decay": "weight_decay", "amsgrad": "amsgrad"}


def keras_unavailable_reason(backend: str) -> str | None:
    why = version_unavailable("keras", KERAS_VERSION, "pip install -c constraints.txt 'adamspec[keras]'")
    if why:
        return why
    if importlib.util.find_spec(backend) is None:
        return f"{backend}, the backend, is not installed: pip install -c constraints.txt 'adamspec[keras]'"
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != backend:
        return (f"keras was imported with the {sys.modules['keras'].backend.backend()} backend in this process "
                f"(the backend is fixed at import): run keras.*.{backend} in a process of its own")
    return None


def _keras(backend: str):
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = backend
    import keras

    if keras.backend.backend() != backend:
        raise AdapterError(keras_unavailable_reason(backend) or f"keras runs the {keras.backend.backend()} backend")
    return keras


def _to_keras_value(keras, a: np.ndarray):
    a = np.asarray(a)
    if a.dtype == ml_dtypes.bfloat16:  # widen exactly, cast back in the backend
        return keras.ops.cast(keras.ops.convert_to_tensor(a.astype(np.float32)), "bfloat16")
    return keras.ops.convert_to_tensor(a)


def _to_numpy(keras, x, dtype) -> np.ndarray:
    x = keras.ops.convert_to_numpy(keras.ops.cast(x, "float32") if np.dtype(dtype) == ml_dtypes.bfloat16 else x)
    return np.asarray(x).astype(dtype)


class _Group:
    def __init__(self, group, states, count: int | None, backend: str):
        keras = self.keras = _keras(backend)
        h = group.hyper
        self.mode = h.mode
        cls = keras.optimizers.AdamW if h.mode is Mode.ADAMW else keras.optimizers.Adam
        self.opt = cls(learning_rate=h.lr, beta_1=h.beta1, beta_2=h.beta2, epsilon=h.eps, amsgrad=h.amsgrad,
                       weight_decay=h.weight_decay if h.mode is Mode.ADAMW else None)
        self.dtypes = [np.asarray(a).dtype for a in group.params]
        self.vars = [keras.Variable(_to_keras_value(keras, a), dtype=str(np.asarray(a).dtype)) for a in group.params]
        self.opt.build(self.vars)
        if count is not None:
            self.opt.iterations.assign(count)
            for i, st in enumerate(states):
                self.opt._momentums[i].assign(_to_keras_value(keras, st.m))
                self.opt._velocities[i].assign(_to_keras_value(keras, st.v))
                if h.amsgrad:
                    self.opt._velocity_hats[i].assign(_to_keras_value(keras, st.vmax))
        self.stepped = count is not None

    def step(self, grads):
        self.opt.apply([_to_keras_value(self.keras, g) for g in grads], self.vars)
        self.stepped = True

    def set_hypers(self, h: Hyper):
        self.opt.learning_rate = h.lr  # assigns the learning-rate variable, as a callback does
        self.opt.beta_1, self.opt.beta_2, self.opt.epsilon = h.beta1, h.beta2, h.eps
        if self.mode is Mode.ADAMW:
            self.opt.weight_decay = h.weight_decay

    def read(self) -> list[ParamState]:
        k = self.keras
        thetas = [_to_numpy(k, v.value, dt) for v, dt in zip(self.vars, self.dtypes)]
        if not self.stepped:
            return [ParamState(t) for t in thetas]
        step = int(k.ops.convert_to_numpy(self.opt.iterations.value))
        out = []
        for i, (t, dt) in enumerate(zip(thetas, self.dtypes)):
            vmax = _to_numpy(k, self.opt._velocity_hats[i].value, dt) if self.opt.amsgrad else None
            out.append(ParamState(t, _to_numpy(k, self.opt._momentums[i].value, dt),
                                  _to_numpy(k, self.opt._velocities[i].value, dt), vmax, step))
        return out


class KerasAdapter:
    # a sweep or selftest shares worker processes between adapters, and keras' backend is one per process
    sweep_alone = "keras fixes its backend for the whole process (KERAS_BACKEND): name it to sweep it"

    def __init__(self, family: str, backend: str):
        if family not in FAMILIES or backend not in BACKENDS:
            raise ValueError(f"unknown adapter keras.{family}.{backend}; backends: {', '.join(BACKENDS)}")
        self.family, self.backend = family, backend
        self.capabilities = Capabilities(
            name=f"keras.{family}.{backend}",
            modes=FAMILIES[family],
            dtypes=frozenset(_DTYPES),
            compute={d: d for d in _DTYPES},
            scalars="float32",
            maximize=False,
            max_step=2**24,  # t is cast to the variable's dtype: float32 holds integers exactly up to 2^24
            variant=replace(CANONICAL, eps_placement="hat"),
            notes=f"keras {KERAS_VERSION} keras.optimizers.{'AdamW' if family == 'adamw' else 'Adam'} on the "
                  f"{backend} backend (CPU), optimizer.apply; weight_decay decoupled; one count per group",
        )

    def unavailable_reason(self) -> str | None:
        return keras_unavailable_reason(self.backend)

    def construct(self, **kwargs):
        """The class called with the keywords in Keras' spelling (an option it lacks is refused)."""
        keras = _keras(self.backend)
        out = {}
        for key, value in kwargs.items():
            if key == "betas":
                out["beta_1"], out["beta_2"] = value
            else:
                out[_KERAS_KWARGS.get(key, key)] = value
        cls = keras.optimizers.AdamW if self.family == "adamw" else keras.optimizers.Adam
        return cls(**out)

    def open(self, groups, states):
        refuse_undeclared_modes(self.capabilities, groups)
        return PerGroupSession(groups, states, lambda g, st, count: _Group(g, st, count, self.backend), "Keras",
                               "a variable without a gradient would still see the one iteration count advance")
