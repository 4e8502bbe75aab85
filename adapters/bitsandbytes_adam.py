"""``bitsandbytes.<adam|adamw>.32bit``: bitsandbytes 0.50.2's ``Adam`` and ``AdamW`` with 32-bit
state, on its CPU backend (the kernel registered for ``bitsandbytes::optimizer_update_32bit``).

Capabilities, from bitsandbytes 0.50.2's source (``optim/adam.py``, ``optim/adamw.py``,
``optim/optimizer.py``: ``Optimizer2State``; ``backends/cpu/ops.py``: ``_optimizer_update_32bit_cpu``):

- ``Adam`` and ``AdamW`` are one class body: both pass the name "adam" to ``Optimizer2State`` and
  differ only in the default weight_decay (0 and 0.01). The kernel applies the decay as
  ``θ·(1 − lr·λ)`` before the update whenever λ > 0, for both: so ``bitsandbytes.adam`` is
  declared modes adam (λ = 0) and adamw, never adam_l2, although its namesake torch.optim.Adam
  couples λ as L2. ``amsgrad`` is accepted by both constructors and passed nowhere; ``maximize``
  does not exist. Canonical variant: ``m/(√v + ε·√bc2)·(lr·√bc2/bc1)`` is the canonical update
  rearranged.
- dtypes: the documentation says "32/16-bit gradients/weights"; float64 is not declared (the
  kernel would compute it in float32 through ``p.float()``).
- compute: ``g.float()``, ``p.float()``: every operation in float32, θ rounded back to its dtype
  at the end. State: ``state1`` (m) and ``state2`` (v) float32 for every parameter dtype (SPEC
  DT-1, declared).
- scalars: ``β^t``, ``1 − β^t``, ``√(1 − β₂^t)`` and the step size are Python floats; ``step`` is a
  Python int (exact at any count).
- validation: ``0 ≤ lr``, ``0 ≤ eps``, ``0 ≤ β < 1`` and ``0 ≤ weight_decay`` are checked.
- the 8-bit optimizers keep blockwise-quantized state; the spec has no clause for judging it yet.
"""

from __future__ import annotations

from adamspec.adapters.base import Capabilities
from adamspec.adapters.third_party import version_unavailable
from adamspec.adapters.torch_optim import UNLIKE_DEFAULTS, TorchAdamSession, TorchOptimizerAdapter, check_modes
from adamspec.reference.hyper import Hyper

BITSANDBYTES_VERSION = "0.50.2"  # the version this adapter's capabilities were read from and tested with
FAMILIES = {"adam": frozenset({"adam", "adamw"}), "adamw": frozenset({"adamw"})}
_DTYPES = ("float32", "bfloat16", "float16")


def bitsandbytes_unavailable_reason() -> str | None:
    return version_unavailable("bitsandbytes", BITSANDBYTES_VERSION,
                               "pip install -c constraints.txt 'adamspec[bitsandbytes]'")


class BitsAndBytesSession(TorchAdamSession):
    """torch's constructor and param groups; state under bitsandbytes' keys ``state1`` (m),
    ``state2`` (v) and ``step`` (a Python int)."""

    def group_settings(self, h: Hyper) -> dict:
        return {"lr": h.lr, "betas": (h.beta1, h.beta2), "eps": h.eps, "weight_decay": h.weight_decay}

    def inject(self, states) -> None:
        torch = self._torch
        for p, st in zip(self.params, states):
            if st is None or st.step is None:
                continue
            self.opt.state[p] = {"step": int(st.step),
                                 "state1": self._tensor(st.m).to(torch.float32),
                                 "state2": self._tensor(st.v).to(torch.float32)}

    def state_of(self, st: dict) -> tuple:
        return st.get("state1"), st.get("state2"), None, st.get("step")

    def resume_defaults(self, first: dict) -> dict:
        return dict(UNLIKE_DEFAULTS)


class BitsAndBytesAdapter(TorchOptimizerAdapter):
    def __init__(self, family: str, bits: str = "32bit"):
        if family not in FAMILIES or bits != "32bit":
            raise ValueError(f"unknown adapter bitsandbytes.{family}.{bits}; "
                             f"have bitsandbytes.{{{','.join(FAMILIES)}}}.32bit")
        self.family = family
        self.flags = {"optim_bits": 32}
        cls = "Adam" if family == "adam" else "AdamW"
        self.capabilities = Capabilities(
            name=f"bitsandbytes.{family}.{bits}",
            modes=FAMILIES[family],
            dtypes=frozenset(_DTYPES),
            compute={d: "float32" for d in _DTYPES},
            state_dtype={d: "float32" for d in _DTYPES if d != "float32"},
            devices=frozenset({"cpu"}),
            scalars="float64",
            amsgrad=False,  # accepted by the constructor, used nowhere (module docstring)
            maximize=False,
            notes=f"bitsandbytes {BITSANDBYTES_VERSION} bitsandbytes.optim.{cls}(optim_bits=32) on its CPU "
                  "backend; weight_decay decoupled in both classes",
        )

    def unavailable_reason(self) -> str | None:
        return bitsandbytes_unavailable_reason()

    def optimizer_class(self) -> type:
        import bitsandbytes.optim  # an optional extra, imported when used

        return bitsandbytes.optim.Adam if self.family == "adam" else bitsandbytes.optim.AdamW

    def open(self, groups, states):
        check_modes(self.capabilities, self.family, groups)
        return BitsAndBytesSession(self.optimizer_class(), dict(self.flags), groups, states)
