"""The adamspec adapter for the C++ kernel: what a kernel author writes to gate it in CI.

    adamspec run --adapter examples.cpp_adamw.adapter:make
    adamspec run --adapter examples.cpp_adamw.adapter:make_buggy   # built with the ε-inside-root bug

The kernel is compiled on first use with torch.utils.cpp_extension (gcc and ninja; cached
under ~/.cache/torch_extensions).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from adamspec.adapters.base import Capabilities, ParamState, UnsupportedCase

SOURCE = Path(__file__).with_name("adamw_kernel.cpp")


@cache
def kernel(buggy: bool = False):
    """Compile (once per process) and load the extension."""
    from torch.utils.cpp_extension import load

    flags = ["-O2"] + (["-DADAMSPEC_BUG_EPS_INSIDE_ROOT"] if buggy else [])
    name = "adamspec_cpp_adamw_buggy" if buggy else "adamspec_cpp_adamw"
    return load(name=name, sources=[str(SOURCE)], extra_cflags=flags, verbose=False)


class CppSession:
    def __init__(self, ext, groups, states):
        import torch

        self.torch, self.ext = torch, ext
        self.items = []  # (hyper, param, exp_avg, exp_avg_sq, step)
        it = iter(states)
        for group in groups:
            for a in group.params:
                st = next(it)
                p = torch.from_numpy(np.array(a, copy=True))
                if st is not None and st.step:
                    m, v, step = torch.from_numpy(np.array(st.m)), torch.from_numpy(np.array(st.v)), st.step
                else:
                    m, v, step = None, None, 0
                self.items.append([group.hyper, p, m, v, step])
        self._sizes = [len(g.params) for g in groups]

    def set_hypers(self, hypers):
        """Each group's hyperparameters from the next step on (SPEC GRP-4: the kernel takes them
        as arguments at every call, so nothing is cached)."""
        per_param = [h for h, n in zip(hypers, self._sizes, strict=True) for _ in range(n)]
        for item, h in zip(self.items, per_param, strict=True):
            item[0] = h

    def resume(self):
        """A checkpoint as a kernel's user writes one (SPEC STATE-6): the tensors and step counts
        through torch.save to bytes, loaded back as new tensors that the next steps update."""
        import io

        buf = io.BytesIO()
        self.torch.save([{"param": p, "exp_avg": m, "exp_avg_sq": v, "step": step}
                         for _, p, m, v, step in self.items], buf)
        buf.seek(0)
        saved = self.torch.load(buf, weights_only=True)
        self.items = [[item[0], s["param"], s["exp_avg"], s["exp_avg_sq"], s["step"]]
                      for item, s in zip(self.items, saved, strict=True)]

    def step(self, grads):
        for item, g in zip(self.items, grads, strict=True):
            if g is None:
                continue  # no gradient: skipped, state untouched
            h, p, m, v, step = item
            if m is None:
                m, v = self.torch.zeros_like(p), self.torch.zeros_like(p)
            step += 1
            self.ext.adam_step(p, self.torch.from_numpy(np.array(g, copy=True)), m, v, step, h.lr, h.beta1, h.beta2,
                               h.eps, h.weight_decay, h.mode.value == "adamw", h.maximize)
            item[2:] = [m, v, step]

    def read(self):
        return [ParamState(p.numpy().copy()) if m is None else
                ParamState(p.numpy().copy(), m.numpy().copy(), v.numpy().copy(), None, step)
                for _, p, m, v, step in self.items]

    def close(self):
        self.items = []


class CppAdamAdapter:
    def __init__(self, buggy: bool = False):
        self.buggy = buggy
        self.capabilities = Capabilities(
            name="examples.cpp_adamw" + (".buggy" if buggy else ""),
            modes=frozenset({"adam", "adam_l2", "adamw"}),
            dtypes=frozenset({"float32", "float64"}),
            compute={"float32": "float32", "float64": "float64"},
            amsgrad=False,  # the kernel has no AMSGrad: those properties are not applicable
            notes="example C++ kernel (torch.utils.cpp_extension)" + (", ε-inside-root bug" if buggy else ""),
        )

    def warm_up(self):
        """Build the extension before the first example (a cold build takes tens of seconds, which
        the per-example time limit must not count: adapters/base.py, WarmsUp)."""
        kernel(self.buggy)

    def open(self, groups, states):
        for g in groups:
            if g.hyper.amsgrad:
                raise UnsupportedCase("the C++ kernel has no AMSGrad")
        return CppSession(kernel(self.buggy), groups, states)


def make():
    return CppAdamAdapter(buggy=False)


def make_buggy():
    return CppAdamAdapter(buggy=True)
