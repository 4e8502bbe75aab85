"""What the third-party adapters share: the check that the library installed is the version an
adapter was read from, and for libraries without parameter groups (optax, MLX) a session of one
optimizer per group, each with its own state and step count, in the case's parameter order."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Sequence


def version_unavailable(dist: str, pinned: str, install: str) -> str | None:
    """Why an adapter read from ``dist==pinned`` cannot run here, or None."""
    try:
        have = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return f"{dist} is not installed: {install}"
    if have != pinned:
        return f"{dist} {have} is installed; this adapter was read from and tested with {pinned}"
    return None


class PerGroupSession:
    """A session made of one sub-session per group: ``make(group, states)`` builds one, which has
    ``step(grads)``, ``set_hypers(hyper)`` and ``read()`` for its own parameters."""

    def __init__(self, groups, states, make: Callable):
        self.groups, self.sizes, i = [], [len(g.params) for g in groups], 0
        for g, n in zip(groups, self.sizes):
            self.groups.append(make(g, states[i:i + n]))
            i += n

    def step(self, grads):
        i = 0
        for g, n in zip(self.groups, self.sizes):
            g.step(list(grads[i:i + n]))
            i += n

    def set_hypers(self, hypers: Sequence):
        for g, h in zip(self.groups, hypers, strict=True):
            g.set_hypers(h)

    def read(self):
        return [st for g in self.groups for st in g.read()]

    def close(self):
        self.groups = []
