"""The adapter protocol: how a case becomes calls of one implementation (SPEC API-*).

An adapter opens a *session* on some parameter groups (initial values, per-group
hyperparameters, optional injected state), steps it with gradients, and reads
parameters and state back as numpy arrays in their storage dtype. It knows nothing of
properties or of the reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from adamspec.reference.hyper import CANONICAL, Hyper, Profile


@dataclass(frozen=True)
class Capabilities:
    """What an implementation can do and how it computes (SPEC API-6, DT-2, DT-4, VAR-1)."""

    name: str
    modes: frozenset[str]
    dtypes: frozenset[str]
    compute: Mapping[str, str]  # storage dtype -> compute format of each operation
    devices: frozenset[str] = frozenset({"cpu"})
    scalars: str = "float64"  # format hyperparameters and derived scalars are held in
    powers: str = "pow"  # how β^t is formed: "pow" or "product"
    amsgrad: bool = True
    maximize: bool = True
    groups: bool = True
    state_injection: bool = True
    max_step: int | None = None  # largest step count held exactly (SPEC STATE-5)
    profile: Profile = CANONICAL
    notes: str = ""

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in ("modes", "dtypes", "devices"):
            d[k] = sorted(d[k])
        d["compute"] = dict(self.compute)
        d["profile"] = self.profile.departures() or "canonical"
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
    def step(self, grads: Sequence[np.ndarray | None]) -> None:
        """One optimizer step; ``grads`` follows the parameters' order, None = no gradient."""

    def read(self) -> list[ParamState]:
        """Current parameters and state, copied out as numpy arrays."""

    def close(self) -> None: ...

    # Optional, for SPEC MUT-1/MUT-2 (a session without them makes those properties
    # not applicable): the gradients as the implementation holds them after the last
    # step, and whether each parameter was updated in place.
    # def grads_after(self) -> list[np.ndarray | None]: ...
    # def updated_in_place(self) -> list[bool]: ...


class Adapter(Protocol):
    capabilities: Capabilities

    def open(self, groups: Sequence[GroupSpec], states: Sequence[ParamState | None]) -> Session:
        """Build the implementation; ``states`` (one per parameter, None = fresh) is injected."""

    # Optional: ``warm_up()`` — one-time, idempotent set-up (e.g. a first compile) that the
    # runner calls before a property's examples, outside the per-example time limit; and
    # ``unavailable_reason()`` — why the adapter cannot run on this machine (no GPU), or None.


class AdapterError(Exception):
    """The adapter could not be built (SPEC API-1): the run ends with exit status 3."""


class UnsupportedCase(Exception):
    """The adapter cannot run this case (a capability it lacks); the verdict is not applicable."""


class NotApplicable(UnsupportedCase):
    """The adapter can run no case of this property at all (e.g. its session cannot expose the
    gradients it held): the property is not applicable, decided at the first example."""
