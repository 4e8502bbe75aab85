"""Finding an adapter by name: the built-in ones, or ``package.module:attr`` of a user's.

``attr`` may be an adapter object, a factory returning one, or a ``torch.optim.Optimizer``
subclass with torch's constructor and state keys (then ``claim`` names the mode it claims).
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from dataclasses import replace

from adamspec.adapters.base import AdapterError, MayBeUnavailable


class UsageError(ValueError):
    """A bad adapter name or claim: the command line exits with status 2."""


def _torch_builtin(family, path):
    from adamspec.adapters.torch_optim import TorchAdamAdapter

    return lambda: TorchAdamAdapter(family, path)


def _numpy_builtin(family):
    from adamspec.adapters.numpy_impl import NumpyAdapter

    return lambda: NumpyAdapter(family)


def _compiled_builtin(family, device, path):
    from adamspec.adapters.torch_compiled import TorchCompiledAdapter

    return lambda: TorchCompiledAdapter(family, device, path)


def _sharded_builtin(stack, family, path, world=None):
    from adamspec.adapters.torch_sharded import DEFAULT_WORLD, TorchShardedAdapter

    return lambda: TorchShardedAdapter(stack, family, path, world or DEFAULT_WORLD)


# torch.distributed stacks (adapters/torch_sharded.py) and the families each wraps; a name takes
# ``@N`` for a world size other than the default (``torch.fsdp2.adamw.foreach@3``).
_SHARDED = {"fsdp2": ("adam", "adamw"), "dtensor": ("adamw",), "zero": ("adamw",)}


def _deepspeed_builtin(stack, world=None):
    from adamspec.adapters.deepspeed_zero import DeepSpeedZeroAdapter
    from adamspec.adapters.torch_sharded import DEFAULT_WORLD

    return lambda: DeepSpeedZeroAdapter(stack, "adamw", world or DEFAULT_WORLD)


# DeepSpeed ZeRO stages (adapters/deepspeed_zero.py); ``@N`` as for the torch stacks.
_DEEPSPEED = ("zero1", "zero2")


def _timm_builtin(path):
    from adamspec.adapters.timm_adamw import TimmAdamWAdapter

    return lambda: TimmAdamWAdapter(path)


def _bitsandbytes_builtin(family, bits):
    from adamspec.adapters.bitsandbytes_adam import BitsAndBytesAdapter

    return lambda: BitsAndBytesAdapter(family, bits)


def _optax_builtin(family):
    from adamspec.adapters.optax_adam import OptaxAdapter

    return lambda: OptaxAdapter(family)


def _mlx_builtin(family, flavour):
    from adamspec.adapters.mlx_adam import MlxAdapter

    return lambda: MlxAdapter(family, flavour)


def _keras_builtin(family, backend):
    from adamspec.adapters.keras_adam import KerasAdapter

    return lambda: KerasAdapter(family, backend)


# torch.compile(opt.step) paths (adapters/torch_compiled.py): default flags, foreach, tensor lr.
_COMPILED_PATHS = ("compiled", "compiled-foreach", "compiled-tensor-lr")


BUILTIN = {
    **{f"torch.{fam}.{path}": _torch_builtin(fam, path)
       for fam in ("adam", "adamw") for path in ("forloop", "foreach", "fused")},
    **{f"torch.{fam}.{path}": _compiled_builtin(fam, "cpu", path)
       for fam in ("adam", "adamw") for path in _COMPILED_PATHS},
    **{f"torch.{fam}.{path}": _torch_builtin(fam, path)
       for fam in ("adam", "adamw") for path in ("cuda-forloop", "cuda-foreach", "cuda-fused", "cuda-capturable")},
    **{f"torch.{fam}.cuda-{path}": _compiled_builtin(fam, "cuda", path)
       for fam in ("adam", "adamw") for path in _COMPILED_PATHS},
    **{f"torch.{stack}.{fam}.{path}": _sharded_builtin(stack, fam, path)
       for stack, fams in _SHARDED.items() for fam in fams for path in ("forloop", "foreach", "fused")},
    **{f"deepspeed.{stack}.adamw": _deepspeed_builtin(stack) for stack in _DEEPSPEED},
    **{f"timm.adamw.{path}": _timm_builtin(path) for path in ("forloop", "foreach")},
    **{f"bitsandbytes.{fam}.32bit": _bitsandbytes_builtin(fam, "32bit") for fam in ("adam", "adamw")},
    **{f"optax.{fam}": _optax_builtin(fam) for fam in ("adam", "adamw")},
    **{f"mlx.{fam}{suffix}": _mlx_builtin(fam, suffix.lstrip("."))
       for fam in ("adam", "adamw") for suffix in ("", ".bias-corrected")},
    **{f"keras.{fam}.{backend}": _keras_builtin(fam, backend) for fam in ("adam", "adamw")
       for backend in ("jax", "torch")},
    "numpy.adam": _numpy_builtin("adam"),
    "numpy.adamw": _numpy_builtin("adamw"),
}

MODES = ("adam", "adam_l2", "adamw")


def unavailable_reason(adapter) -> str | None:
    """Why an adapter cannot run on this machine (its framework is missing), or None."""
    import importlib.util

    if adapter.capabilities.name.startswith("torch.") and importlib.util.find_spec("torch") is None:
        return "torch is not installed: pip install 'adamspec[torch]'"
    if isinstance(adapter, MayBeUnavailable):  # e.g. a CUDA path on a machine without a GPU
        return adapter.unavailable_reason()
    return None


def builtin_names(sweep: bool = False) -> list[str]:
    """Every built-in name, or (``sweep``) those a repeated run over many seeds should cover
    here: runnable on this machine and not compiled per example (``*.compiled*`` costs minutes
    per `ci` run; sweep it by naming it)."""
    if not sweep:
        return list(BUILTIN)
    left_out = sweep_exclusions()
    return [n for n in BUILTIN if n not in left_out]


def sweep_exclusions() -> dict[str, str]:
    """The built-ins ``builtin_names(sweep=True)`` leaves out, each with the reason."""
    out = {}
    for n in BUILTIN:
        adapter = BUILTIN[n]()
        why = unavailable_reason(adapter)
        if why:
            out[n] = why
        elif "compiled" in n.rsplit(".", 1)[-1]:
            out[n] = "recompiles per example (minutes per ci run): name it to sweep it"
        elif getattr(adapter, "sweep_alone", None):  # e.g. a library that fixes its backend per process
            out[n] = adapter.sweep_alone
    return out


def load_adapter(name: str, claim: str | None = None):
    """Resolve ``name``; raise UsageError for names that resolve to nothing."""
    base, at, world = name.partition("@")
    if at and base in BUILTIN and base.split(".")[1] in (*_SHARDED, *_DEEPSPEED):
        if not world.isdigit():
            raise UsageError(f"{name!r}: the world size after @ is a number of ranks, e.g. {base}@3")
        lib, stack, fam, *path = base.split(".")
        try:
            adapter = (_deepspeed_builtin(stack, int(world)) if lib == "deepspeed"
                       else _sharded_builtin(stack, fam, path[0], int(world)))()
        except ValueError as exc:
            raise UsageError(f"{name!r}: {exc}") from None
        name = base
    elif name in BUILTIN:
        adapter = BUILTIN[name]()
    else:
        adapter = None
    if adapter is not None:
        if claim is not None:
            raise UsageError(f"--claim applies to an optimizer class, not the built-in adapter {name!r}")
        return adapter
    if ":" not in name:
        raise UsageError(f"unknown adapter {name!r}: not a built-in ({', '.join(BUILTIN)}) "
                         "and not of the form package.module:attr")
    module_name, _, attr = name.partition(":")
    # A user's adapter usually lives in the project being tested: import it from the
    # current directory as `python -m` would, also under the `adamspec` console script.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import module {module_name!r} for adapter {name!r}: {exc}") from None
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise UsageError(f"module {module_name!r} has no attribute {attr!r}") from None
    return _adapter_from(obj, name, claim)


def _adapter_from(obj, name: str, claim: str | None):
    if inspect.isclass(obj) and _is_torch_optimizer(obj):
        if claim is None:
            raise UsageError(f"{name} is an optimizer class: say what it computes with "
                             f"--claim {'|'.join(MODES)}")
        if claim not in MODES:
            raise UsageError(f"--claim must be one of {', '.join(MODES)}, got {claim!r}")
        from adamspec.adapters.torch_optim import TorchClassAdapter

        return TorchClassAdapter(obj, claim, name)
    if hasattr(obj, "capabilities") and hasattr(obj, "open"):
        adapter = obj
    elif callable(obj):
        try:
            adapter = obj() if claim is None else obj(claim=claim)
        except Exception as exc:
            raise AdapterError(f"adapter factory {name} failed: {type(exc).__name__}: {exc}") from exc
    else:
        raise UsageError(f"{name} is neither an adapter, an adapter factory nor an optimizer class")
    if not (hasattr(adapter, "capabilities") and hasattr(adapter, "open")):
        raise UsageError(f"{name} returned {type(adapter).__name__}, which has no capabilities/open")
    return adapter


def _is_torch_optimizer(cls) -> bool:
    return any(f"{c.__module__}.{c.__qualname__}" == "torch.optim.optimizer.Optimizer"
               for c in inspect.getmro(cls))


def with_name(adapter, name: str):
    """The adapter with its capability record renamed (for reports of user adapters)."""
    adapter.capabilities = replace(adapter.capabilities, name=name)
    return adapter


def with_dtypes(adapter, dtypes):
    """The adapter judged only on ``dtypes`` (e.g. a kernel gated in float32 and bfloat16)."""
    have = adapter.capabilities.dtypes
    unknown = sorted(set(dtypes) - set(have))
    if unknown or not dtypes:
        raise UsageError(f"--dtypes {' '.join(dtypes)}: {adapter.capabilities.name} supports "
                         f"{', '.join(sorted(have))}" + (f", not {', '.join(unknown)}" if unknown else ""))
    caps = adapter.capabilities
    adapter.capabilities = replace(
        caps, dtypes=frozenset(dtypes),
        state_dtype={k: v for k, v in caps.state_dtype.items() if k in dtypes},
        scalars_by_storage={k: v for k, v in caps.scalars_by_storage.items() if k in dtypes})
    return adapter


def with_variant(adapter, pairs):
    """The adapter judged against a declared variant (SPEC VAR-1), from ``KNOB=VALUE`` strings
    (``adamspec run --variant eps_placement=hat bias_correction=false``); the rest of its record's
    variant stays."""
    from adamspec.reference.hyper import KNOB_PARAMETERS, KNOBS

    changes = {}
    for pair in pairs:
        knob, sep, raw = pair.partition("=")
        if not sep or knob not in (*KNOBS, *KNOB_PARAMETERS):
            names = ", ".join((*KNOBS, *KNOB_PARAMETERS))
            raise UsageError(f"--variant {pair!r}: give KNOB=VALUE with a knob of {names}")
        if knob in KNOB_PARAMETERS:
            try:
                changes[knob] = float(raw)
            except ValueError:
                raise UsageError(f"--variant {pair!r}: {knob} is a number") from None
            continue
        allowed = {str(v).lower(): v for v in KNOBS[knob].values}
        if raw.lower() not in allowed:
            raise UsageError(f"--variant {pair!r}: {knob} ({KNOBS[knob].clause}) is one of "
                             f"{', '.join(str(v).lower() for v in KNOBS[knob].values)}")
        changes[knob] = allowed[raw.lower()]
    try:
        variant = replace(adapter.capabilities.variant, **changes)
    except ValueError as exc:
        raise UsageError(f"--variant: {exc}") from None
    adapter.capabilities = replace(adapter.capabilities, variant=variant)
    return adapter
