"""``timm.adamw.<path>``: timm's ``AdamWLegacy`` (timm 1.0.31), the AdamW many vision models were
trained with, on its for-loop and foreach steps (CPU).

Capabilities, from timm 1.0.31's source (``timm/optim/adamw.py``, ``timm/optim/_helpers.py``):

- mode adamw: ``param.mul_(1 − lr·weight_decay)`` before the moments, as SPEC AW-1; the update
  is torch's (``lerp_``, ``mul_().addcmul_()``, ``denom = √v / √bc2 + ε``, ``addcdiv_``);
  ``amsgrad`` is the maximum over raw v, ``maximize`` negates g first. Canonical variant.
  ``corrected_weight_decay`` (α²/α_max·λ, SPEC VAR-3 "corrected"), ``caution`` and
  ``clipping_threshold`` are off by default and not judged here.
- step count: ``state["step"]`` a tensor of torch's default scalar dtype (float32), per parameter;
  β^t, 1 − β^t and the step size are Python floats (``_get_value`` calls ``.item()`` outside
  compile): scalars binary64, as torch's eager CPU paths.
- compute: every operation rounds to the parameter's dtype, as torch's for-loop and foreach.
- validation: ``0 ≤ lr``, ``0 ≤ eps`` and ``0 ≤ β < 1`` are checked; ``weight_decay`` is not.

``import timm`` imports ``timm.models``, which needs torchvision (the only torchvision wheel for
torch 2.13 is a CUDA build that fails here; ../shared/ecosystem-notes.md). The optimizer module
imports only torch and its two sibling helpers, so it is loaded on its own under a private
package name, never running ``timm/__init__`` and never touching ``sys.modules["timm"]``.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

from adamspec.adapters.base import Capabilities
from adamspec.adapters.third_party import version_unavailable
from adamspec.adapters.torch_optim import _DTYPES, TorchAdamSession, TorchOptimizerAdapter, check_modes

TIMM_VERSION = "1.0.31"  # the version this adapter's capabilities were read from and tested with
PATHS = {"forloop": {"foreach": False}, "foreach": {"foreach": True}}
_PRIVATE = "_adamspec_timm_optim"


def timm_unavailable_reason() -> str | None:
    return version_unavailable("timm", TIMM_VERSION, f"pip install --no-deps timm=={TIMM_VERSION} (its torchvision "
                               "requirement has no CPU wheel for torch 2.13; the optimizer needs neither)")


def load_adamw_legacy() -> type:
    """``timm.optim.adamw.AdamWLegacy`` without ``timm/__init__`` (module docstring)."""
    if f"{_PRIVATE}.adamw" in sys.modules:
        return sys.modules[f"{_PRIVATE}.adamw"].AdamWLegacy
    spec = importlib.util.find_spec("timm")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(timm_unavailable_reason() or "timm not found")
    optim = Path(next(iter(spec.submodule_search_locations))) / "optim"
    package = types.ModuleType(_PRIVATE)
    package.__path__ = [str(optim)]  # relative imports (._helpers, ._types) resolve here
    sys.modules[_PRIVATE] = package
    module_spec = importlib.util.spec_from_file_location(f"{_PRIVATE}.adamw", optim / "adamw.py")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module
    module_spec.loader.exec_module(module)
    return module.AdamWLegacy


class TimmAdamWAdapter(TorchOptimizerAdapter):
    def __init__(self, path: str):
        if path not in PATHS:
            raise ValueError(f"unknown timm adapter timm.adamw.{path}; paths: {sorted(PATHS)}")
        self.path, self.flags = path, dict(PATHS[path])
        self.capabilities = Capabilities(
            name=f"timm.adamw.{path}",
            modes=frozenset({"adamw"}),
            dtypes=frozenset(_DTYPES),
            compute={d: d for d in _DTYPES},
            devices=frozenset({"cpu"}),
            scalars="float64",
            max_step=2**24,  # the float32 step tensor counts exactly up to 2^24
            notes=f"timm {TIMM_VERSION} timm.optim.AdamWLegacy(foreach={self.flags['foreach']}) on CPU",
        )

    def unavailable_reason(self) -> str | None:
        return timm_unavailable_reason()

    def optimizer_class(self) -> type:
        return load_adamw_legacy()

    def open(self, groups, states):
        check_modes(self.capabilities, "adamw", groups)
        return TorchAdamSession(self.optimizer_class(), dict(self.flags), groups, states)
