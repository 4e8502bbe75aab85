"""``optax.adam`` and ``optax.adamw``: optax 0.2.8 on jax 0.10.2 (CPU), as a training loop runs them:
``optax.inject_hyperparams`` over the alias (the documented way to change a hyperparameter while
training), one ``jax.jit``ted update-and-apply per structure, ``optax.apply_updates``.

Capabilities, from optax 0.2.8's source (``_src/alias.py``, ``_src/transform.py``,
``tree_utils``, ``schedules/_inject.py``):

- ``optax.adam(lr, b1, b2, eps)`` is ``chain(scale_by_adam, scale_by_learning_rate)``: modes adam,
  and adam_l2 as ``chain(add_decayed_weights(λ), adam(...))`` (the composition optax's
  documentation gives for L2), here inside one factory so that λ is a hyperparameter too.
  ``optax.adamw`` adds ``add_decayed_weights(λ)`` between the two: θ + (−α)(u + λθ) = θ(1 − αλ) − αu,
  mode adamw. Moments ``(1 − β)·g + β·m``, bias correction ``m/(1 − β^t)`` with t the count,
  update ``m̂/(√(v̂ + eps_root) + ε)`` with eps_root = 0: the canonical variant.
- step count: one ``count`` (int32) per optimizer state, so per parameter group here; optax has
  no "parameter without a gradient" (an update takes a gradient for every leaf): cases whose
  parameters of a group start at different counts, or lack a gradient, are not applicable.
- compute: every operation in the parameters' dtype. Held precision: ``inject_hyperparams``
  casts each float hyperparameter to the parameters' highest dtype (``_convert_floats``), so lr,
  β, ε and λ, and β^t formed from them, are held in the storage dtype (scalars per storage).
- float64 needs jax's x64 mode: the adapter switches it on (``jax_enable_x64``) for the whole
  process before it builds anything.
- no AMSGrad in these aliases (``optax.amsgrad`` is another alias, not an option), no maximize,
  no validation of any hyperparameter, a functional step (new arrays; MUT-1/MUT-2 do not apply),
  no memory layouts (a strided or transposed case is the same array of values).
"""

from __future__ import annotations

import numpy as np

from adamspec.adapters.base import Capabilities, ParamState, refuse_undeclared_modes
from adamspec.adapters.third_party import PerGroupSession, version_unavailable
from adamspec.reference.hyper import Hyper, Mode

OPTAX_VERSION = "0.2.8"  # the versions this adapter's capabilities were read from and tested with
JAX_VERSION = "0.10.2"
FAMILIES = {"adam": frozenset({"adam", "adam_l2"}), "adamw": frozenset({"adamw"})}
# bfloat16 is not declared: inject_hyperparams casts β₂ = 0.999 to bfloat16, which is 1.0, and the
# bias correction 1 − β₂^t is then 0 (tests/test_optax.py reproduces it); a bfloat16 run needs
# hyperparam_dtype=float32, another program than the one judged here.
_DTYPES = ("float64", "float32")
# torch's constructor keywords (adapters/base.py: CONSTRUCT_KWARGS) in optax's spelling
_OPTAX_KWARGS = {"lr": "learning_rate", "eps": "eps", "weight_decay": "weight_decay"}


def optax_unavailable_reason() -> str | None:
    install = "pip install -c constraints.txt 'adamspec[optax]'"
    return version_unavailable("optax", OPTAX_VERSION, install) or version_unavailable("jax", JAX_VERSION, install)


def _jax():
    """jax and optax, with x64 switched on before any array exists (module docstring)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import optax

    return jax, optax


def _adam_l2(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
    """Coupled L2 the way optax composes it: λθ added to the gradient, then Adam."""
    _, optax = _jax()
    return optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(learning_rate, b1, b2, eps))


def _hyperparams(h: Hyper, mode: Mode) -> dict:
    out = {"learning_rate": h.lr, "b1": h.beta1, "b2": h.beta2, "eps": h.eps}
    if mode is not Mode.ADAM:
        out["weight_decay"] = h.weight_decay
    return out


_COMPILED: dict = {}  # mode -> (optimizer, jitted update-and-apply), built once per process


def _optimizer(mode: Mode):
    """One optimizer per mode and its jitted step: the hyperparameters live in the state
    (inject_hyperparams), so jax traces the step once per structure of parameters, never per value."""
    if mode not in _COMPILED:
        jax, optax = _jax()
        factory = {Mode.ADAM: optax.adam, Mode.ADAM_L2: _adam_l2, Mode.ADAMW: optax.adamw}[mode]
        opt = optax.inject_hyperparams(factory)(**_hyperparams(Hyper(mode=mode), mode))

        def update(params, grads, state):
            updates, state = opt.update(grads, state, params)
            return optax.apply_updates(params, updates), state

        _COMPILED[mode] = (opt, jax.jit(update))
    return _COMPILED[mode]


class _Group:
    """One parameter group: its own optimizer state (optax keeps one count per state)."""

    def __init__(self, group, states, count: int | None):
        jax, _ = _jax()
        self.mode = group.hyper.mode
        self.opt, self.update = _optimizer(self.mode)
        self.dtypes = [np.asarray(a).dtype for a in group.params]
        self.params = [jax.numpy.asarray(a) for a in group.params]
        self.state = self.opt.init(self.params)
        self.set_hypers(group.hyper)
        if count is not None:
            self.state = _with_adam_state(self.state, lambda s: s._replace(
                count=jax.numpy.asarray(count, dtype=jax.numpy.int32),
                mu=[jax.numpy.asarray(st.m) for st in states], nu=[jax.numpy.asarray(st.v) for st in states]))
        self.injected = count is not None

    def step(self, grads):
        jnp = _jax()[0].numpy
        self.params, self.state = self.update(self.params, [jnp.asarray(g) for g in grads], self.state)
        self.injected = True

    def set_hypers(self, h: Hyper):
        jnp = _jax()[0].numpy
        old = self.state.hyperparams
        new = dict(old)  # eps_root, which the alias adds, stays as it is (0)
        new.update({k: jnp.asarray(v, dtype=old[k].dtype) for k, v in _hyperparams(h, self.mode).items()})
        self.state = self.state._replace(hyperparams=new)

    def read(self) -> list[ParamState]:
        adam = _adam_state(self.state)
        thetas = [np.asarray(p).astype(dt) for p, dt in zip(self.params, self.dtypes)]
        if not self.injected:
            return [ParamState(t) for t in thetas]
        step = int(adam.count)
        return [ParamState(t, np.asarray(m), np.asarray(v), None, step) for t, m, v in zip(thetas, adam.mu, adam.nu)]


def _is_adam_state(x) -> bool:
    return type(x).__name__ == "ScaleByAdamState"


def _adam_state(state):
    """The one ``ScaleByAdamState`` inside the (nested) chain state."""
    if _is_adam_state(state):
        return state
    if isinstance(state, tuple):
        for part in state:
            found = _adam_state(part)
            if found is not None:
                return found
    return None


def _with_adam_state(state, change):
    if _is_adam_state(state):
        return change(state)
    if isinstance(state, tuple):
        parts = [_with_adam_state(p, change) for p in state]
        return type(state)(*parts) if hasattr(state, "_fields") else type(state)(parts)
    return state


class OptaxAdapter:
    def __init__(self, family: str):
        if family not in FAMILIES:
            raise ValueError(f"unknown adapter optax.{family}; have {', '.join(f'optax.{f}' for f in FAMILIES)}")
        self.family = family
        self.capabilities = Capabilities(
            name=f"optax.{family}",
            modes=FAMILIES[family],
            dtypes=frozenset(_DTYPES),
            compute={d: d for d in _DTYPES},
            scalars="float64",
            scalars_by_storage={"float32": "float32"},
            amsgrad=False,
            maximize=False,
            max_step=2**31 - 1,  # the int32 count (numerics.safe_increment stops there)
            notes=f"optax {OPTAX_VERSION} (jax {JAX_VERSION}, CPU) inject_hyperparams(optax.{family}), "
                  "jit per structure, apply_updates; one count per group",
        )

    def unavailable_reason(self) -> str | None:
        return optax_unavailable_reason()

    def construct(self, **kwargs):
        """The alias called with the keywords in optax's spelling: it validates nothing."""
        _, optax = _jax()
        out = {}
        for key, value in kwargs.items():
            if key == "betas":
                out["b1"], out["b2"] = value
            else:
                out[_OPTAX_KWARGS.get(key, key)] = value  # an option it lacks goes through, and is refused
        out.setdefault("learning_rate", 1e-3)
        if self.family == "adamw":
            return optax.adamw(**out)
        return _adam_l2(**out) if "weight_decay" in out else optax.adam(**out)  # what open() builds

    def open(self, groups, states):
        refuse_undeclared_modes(self.capabilities, groups)
        return PerGroupSession(groups, states, _Group, "optax",
                               "it has no parameter without a gradient: an update takes one for every leaf")
