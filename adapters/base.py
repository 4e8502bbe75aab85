"""The adapter protocol: how a case becomes calls of one implementation (SPEC API-*).

An adapter opens a *session* on some parameter groups (initial values, per-group
hyperparameters, optional injected state), steps it with gradients, and reads
parameters and state back as numpy arrays in their storage dtype. It knows nothing of
properties or of the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from adamspec.reference.hyper import CANONICAL, Hyper, Variant

# A parameter's memory layouts (SPEC STATE-4): "transposed" is a 2-d parameter stored
# column-major, "strided" every other element of a larger buffer.
LAYOUTS = ("contiguous", "transposed", "strided")


@dataclass(frozen=True)
class Capabilities:
    """What an implementation can do and how it computes (SPEC API-6, DT-2, DT-4, VAR-1)."""

    name: str
    modes: frozenset[str]
    dtypes: frozenset[str]
    compute: Mapping[str, str]  # storage dtype -> compute format of each operation
    # storage dtype -> the dtype m, v and vmax are stored in, where it is not the parameter's
    # (SPEC DT-1): e.g. float32 moments for bfloat16 parameters (bitsandbytes' 32-bit state).
    state_dtype: Mapping[str, str] = field(default_factory=dict)
    devices: frozenset[str] = frozenset({"cpu"})
    scalars: str = "float64"  # format hyperparameters and derived scalars are held in
    # storage dtype -> scalars format, where it is not ``scalars`` (SPEC DT-4): a library that casts
    # its hyperparameters to the parameters' dtype (optax's inject_hyperparams) holds them in each.
    scalars_by_storage: Mapping[str, str] = field(default_factory=dict)
    powers: str = "pow"  # how β^t is formed: "pow" or "product"
    # Where the moments' weight 1 − β₁ is held (DT-4): "scalars" like the other derived
    # scalars, or "storage": cast to the moments' storage dtype before it multiplies g − m
    # (torch's compiled foreach lerp, torch/_dynamo/polyfills foreach_lerp_inplace).
    moment_weight: str = "scalars"
    amsgrad: bool = True
    maximize: bool = True
    groups: bool = True
    state_injection: bool = True
    max_step: int | None = None  # largest step count held exactly (SPEC STATE-5)
    variant: Variant = CANONICAL  # the declared variant (SPEC VAR-1); every non-canonical knob is a departure
    # What a sharded stack refuses or does (SPEC STATE-4): 0-d parameters (fully_shard refuses
    # them), memory layouts other than contiguous (a stack that allocates its own shards), and
    # into how many shards along dim 0 it splits each parameter (1: not split), so that cases
    # draw the shapes that shard badly: dims the shard count does not divide, empty shards.
    zero_dim: bool = True
    layouts: frozenset[str] = frozenset(LAYOUTS)
    shards: int = 1
    notes: str = ""

    def __post_init__(self):
        if self.moment_weight not in ("scalars", "storage"):
            raise ValueError(f"moment_weight must be 'scalars' or 'storage', got {self.moment_weight!r}")
        if not set(self.layouts) <= set(LAYOUTS) or "contiguous" not in self.layouts:
            raise ValueError(f"layouts must include 'contiguous' and be among {LAYOUTS}, got {sorted(self.layouts)}")
        if self.shards < 1:
            raise ValueError(f"shards must be at least 1, got {self.shards}")
        for name in ("state_dtype", "scalars_by_storage"):
            unknown = sorted(set(getattr(self, name)) - set(self.dtypes))
            if unknown:
                raise ValueError(f"{name} names storage dtypes the record does not support: {unknown}")

    def scalars_for(self, storage: str) -> str:
        """The format hyperparameters and derived scalars are held in for ``storage`` (DT-4)."""
        return self.scalars_by_storage.get(storage, self.scalars)

    def state_dtype_for(self, storage: str) -> str:
        """The dtype the state of a ``storage`` parameter is stored in (SPEC DT-1)."""
        return self.state_dtype.get(storage, storage)

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in ("modes", "dtypes", "devices", "layouts"):
            d[k] = sorted(d[k])
        d["compute"] = dict(self.compute)
        d["state_dtype"] = dict(self.state_dtype)
        d["scalars_by_storage"] = dict(self.scalars_by_storage)
        d["variant"] = self.variant.departures() or "canonical"
        return d


@dataclass(frozen=True)
class ParamState:
    """One parameter and its optimizer state, as stored (storage dtype arrays).

    ``step is None`` means no state exists yet (SPEC STATE-1).
    """

    theta: np.ndarray
    m: np.ndarray | None = None
    v: np.ndarray | None = None
    vmax: np.ndarray | None = None
    step: int | None = None


@dataclass(frozen=True)
class GroupSpec:
    """A parameter group: its hyperparameters and its parameters' initial values."""

    hyper: Hyper
    params: tuple[np.ndarray, ...] = field(default_factory=tuple)
    # Per parameter: "contiguous", "transposed" (a 2-d parameter stored column-major) or
    # "strided" (every other element of a larger buffer); empty means all contiguous.
    layouts: tuple[str, ...] = ()


class Session(Protocol):
    """What ``Adapter.open`` returns: one implementation instance over some parameter groups."""

    def step(self, grads: Sequence[np.ndarray | None]) -> None:
        """One optimizer step; ``grads`` follows the parameters' order, None = no gradient."""

    def read(self) -> list[ParamState]:
        """Current parameters and state, copied out as numpy arrays."""

    def close(self) -> None: ...


class Adapter(Protocol):
    """An implementation under test: its capability record, and sessions on parameter groups."""

    capabilities: Capabilities

    def open(self, groups: Sequence[GroupSpec], states: Sequence[ParamState | None]) -> Session:
        """Build the implementation; ``states`` (one per parameter, None = fresh) is injected."""


# --- optional hooks ---------------------------------------------------------------------------
# An adapter or session has a hook by defining the method (or attribute); the engine asks with
# ``isinstance(x, Hook)``. Without one, what it serves is not applicable or simply skipped,
# never a failure. Only method presence is checked at run time, so keep the signatures.

# The keyword vocabulary of ``Constructs.construct``: torch's constructor spelling. The
# must-reject table (conformance/must_reject.py, ``MustReject.kwargs()``) passes exactly one of
# these, with a bad value; an adapter for another framework translates them.
CONSTRUCT_KWARGS = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize")


@runtime_checkable
class Constructs(Protocol):
    """An adapter that builds its optimizer from raw hyperparameters (SPEC VAL-1 … VAL-5).

    ``construct(**kwargs)`` takes keywords from ``CONSTRUCT_KWARGS`` (``betas`` a pair
    (β₁, β₂)), defaults for the rest, and must raise, naming the hyperparameter or its value,
    when one is invalid. Without it the ``validation`` property is not applicable.
    """

    def construct(self, **kwargs: object) -> object: ...


@runtime_checkable
class WarmsUp(Protocol):
    """An adapter with one-time, idempotent set-up (e.g. a first compile), which the runner
    calls before a property's examples, outside the per-example time limit. If it raises, the
    property's verdict is an error."""

    def warm_up(self) -> None: ...


@runtime_checkable
class MayBeUnavailable(Protocol):
    """An adapter that may not run on this machine (a CUDA path without a GPU): the reason, or
    None. Every CLI command exits 3 with the reason (``adapters.registry.unavailable_reason``)."""

    def unavailable_reason(self) -> str | None: ...


@runtime_checkable
class Claims(Protocol):
    """An adapter wrapping a user's optimizer class that claims one mode (``--claim``); the claim
    travels in replay tokens so that a replay builds the same adapter."""

    claim: str


@runtime_checkable
class ExposesGradients(Protocol):
    """A session that shows the gradients as the implementation holds them after the last step
    (SPEC MUT-1); without it ``gradient_untouched`` is not applicable."""

    def grads_after(self) -> list[np.ndarray | None]: ...


@runtime_checkable
class ReportsInPlace(Protocol):
    """A session that tells whether each parameter still lives in the storage it had before the
    last step (SPEC MUT-2); without it ``in_place`` is not applicable."""

    def updated_in_place(self) -> list[bool]: ...


@runtime_checkable
class Schedules(Protocol):
    """A session whose hyperparameters can change between steps, the way its library's users
    change them (SPEC GRP-4): torch edits ``param_groups[j]`` and ``fill_``s a tensor lr.
    ``set_hypers(hypers)`` gives one Hyper per group; only lr, β₁, β₂, ε and λ change. Without
    it the properties with schedules are not applicable."""

    def set_hypers(self, hypers: Sequence[Hyper]) -> None: ...


# The constructor defaults of the fresh instance a ``Resumes`` session restores into: unlike any
# drawn group's, so that a restore which keeps a constructor value shows (SPEC STATE-6). Known
# deviation models read them too: a restore that steps the fresh instance once leaves state made
# with these (conformance/deviation_models.py, restored_as_if_stepped_once).
UNLIKE_DEFAULTS = {"lr": 0.0123, "betas": (0.51, 0.77), "eps": 0.031, "weight_decay": 0.29}


@runtime_checkable
class Resumes(Protocol):
    """A session that can checkpoint and resume (SPEC STATE-6): ``resume()`` saves the state
    through the library's own API (torch: ``state_dict()`` through ``torch.save`` to bytes),
    builds a fresh instance over fresh parameters holding the current values, with
    ``UNLIKE_DEFAULTS`` (maximize flipped, and amsgrad where the library allows), restores the
    state into it (``load_state_dict``), and goes on with it. ``read()`` right after ``resume()``
    gives what the restore left. Without it the ``resume`` property is not applicable."""

    def resume(self) -> None: ...


@runtime_checkable
class Benchmarks(Protocol):
    """A session that can time its implementation's own step (``adamspec bench``).

    ``benchmark_step(grads)`` puts ``grads`` where the implementation reads them and returns
    a callable that runs one step and nothing else, plus the name of what it times and the
    device it runs on. A session without it is timed through ``step()``, conversions included.
    """

    def benchmark_step(self, grads: Sequence[np.ndarray]) -> BenchmarkStep: ...


@dataclass(frozen=True)
class BenchmarkStep:
    run: Callable[[], None]  # one step, inputs already in place
    what: str  # e.g. "optimizer.step()"
    device: str = "cpu"  # "cpu" or "cuda": how it is timed


class AdapterError(Exception):
    """The adapter could not be built (SPEC API-1): the run ends with exit status 3."""


class UnsupportedCase(Exception):
    """The adapter cannot run this case (a capability it lacks); the verdict is not applicable."""


def refuse_undeclared_modes(caps: Capabilities, groups) -> None:
    """Refuse (not applicable) a case with a group in a mode the record does not declare."""
    for g in groups:
        if g.hyper.mode.value not in caps.modes:
            raise UnsupportedCase(f"{caps.name} does not implement mode {g.hyper.mode.value}")


class NotApplicable(UnsupportedCase):
    """The adapter can run no case of this property at all (e.g. its session cannot expose the
    gradients it held): the property is not applicable, decided at the first example."""
