"""What the third-party adapters share: the check that the library installed is the version an
adapter was read from, and for libraries without parameter groups (optax, MLX) a session of one
optimizer per group, each with its own state and step count, in the case's parameter order."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Sequence

from adamspec.adapters.base import UnsupportedCase


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
    """A session made of one sub-session per group: ``make(group, states, count)`` builds one, which
    has ``step(grads)``, ``set_hypers(hyper)`` and ``read()`` for its own parameters; ``count`` is
    the step count its injected state starts at (None: fresh).

    The library keeps one count per optimizer, so a case it cannot express is refused here, not
    run: a group whose parameters start at different counts, and (``no_gradient`` says why) a step
    that gives some parameter no gradient."""

    def __init__(self, groups, states, make: Callable, library: str, no_gradient: str):
        self.library, self.no_gradient = library, no_gradient
        self.groups, self.sizes, i = [], [len(g.params) for g in groups], 0
        for g, n in zip(groups, self.sizes):
            mine = states[i:i + n]
            counts = {None if st is None else st.step for st in mine}
            if len(counts) > 1:
                raise UnsupportedCase(f"{library} keeps one step count per optimizer: the parameters of a "
                                      f"group cannot start at different counts ({sorted(counts, key=str)})")
            self.groups.append(make(g, mine, next(iter(counts), None)))
            i += n

    def step(self, grads):
        if any(g is None for g in grads):
            raise UnsupportedCase(f"{self.library}: {self.no_gradient}")
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
