"""``deepspeed.<zero1|zero2>.adamw[@world]``: DeepSpeed 0.19.8's ZeRO stage 1 and 2 engines with the
AdamW of its config, fp32 parameters, on the CPU accelerator (``DS_ACCELERATOR=cpu``: gloo), each
case on every rank of a persistent ``RankPool`` (adapters/rank_pool.py) with the session of the
torch sharded adapters (adapters/torch_sharded.py); what each rank does is
adapters/deepspeed_rank.py.

Which optimizer ZeRO steps, from DeepSpeed 0.19.8's source:

- ``runtime/engine.py``, ``_configure_basic_optimizer``: ``"type": "AdamW"`` goes to
  ``get_optimizer_configuration(..., adam_w_mode=True)``, which returns ``torch.optim.AdamW`` only
  when the config sets ``"torch_adam": true``, ``DeepSpeedCPUAdam`` only when
  ``zero_use_cpu_optimizer()`` (``offload_optimizer`` to cpu or nvme), and otherwise ``FusedAdam``
  with ``adam_w_mode=True``. This adapter uses the default, neither option set: ``FusedAdam``
  (``ops/adam/fused_adam.py``).
- ``accelerator/cpu_accelerator.py``, ``get_op_builder("FusedAdamBuilder")`` is
  ``ops/op_builder/cpu/fused_adam.py``: the JIT-built ``fused_adam`` op from
  ``csrc/cpu/adam/fused_adam.cpp`` and ``csrc/adam/cpu_adam_impl.cpp``, whose
  ``multi_tensor_adam`` calls ``ds_adam_step`` for each tensor: the kernel of ``DeepSpeedCPUAdam``.
- ``runtime/zero/stage_1_and_2.py``: ZeRO flattens each parameter group into one buffer, gives each
  rank an fp32 master partition of it (``single_partition_of_fp32_groups``; the parameters
  themselves are fp32 here, neither fp16 nor bf16 being enabled) and steps the basic optimizer on
  one flat partition per group (``_optimizer_step``), then copies it back and all-gathers the
  parameters. So there is one count per group and rank, and every parameter of a group is stepped
  at every step, with a zero where it had no gradient.

Capabilities:

- modes: adamw (``adam_w_mode=True``). amsgrad: ``FusedAdam`` raises ("does not support the AMSGrad
  variant"); maximize: no such argument.
- dtypes: float32 only. The engine's fp16 and bf16 modes are other optimizers' paths (a loss
  scaler, bf16 parameters over fp32 masters) that this adapter does not build; float64 is refused
  by ``FusedAdam.step`` ("FusedAdam only support fp16, bf16 and fp32").
- compute and scalars: ``cpu_adam_impl.cpp`` (``Step_1``/``Step_AVX``, ``Adam_Optimizer``): every
  operation in float32, and so lr, β₁, β₂, ε, λ (the op's arguments are ``const float``), 1 − β,
  β^t, 1 − β₁^t, 1/√(1 − β₂^t), −lr/(1 − β₁^t) and −lr·λ. ``IncrementStep`` forms β^t as a running
  product (β^{t−1}·β in float32) when the count advances by one, and with ``std::pow`` when it jumps
  (an injected count, or other betas): declared ``powers = "product"``, the looser of the two.
- variant: canonical. θ ← θ + (−lr·λ)·θ, then θ ← θ + (−lr/(1−β₁^t))·m_t/(√v_t·(1/√(1−β₂^t)) + ε):
  ε is added to √v̂_t, the decay is lr·λ·θ before the update, both bias corrections on.
  The decay is applied only where λ > 0.
- max_step: the count is a Python int in ``FusedAdam``'s state, passed as ``const int step`` to
  ``multi_tensor_adam``: exact up to 2³¹ − 1.
- zero_dim: none. ``deepspeed.initialize`` raises on a 0-d parameter: ``engine._broadcast_model``
  broadcasts ``p.data.view(torch.uint8)``, and torch cannot view a 0-d float tensor as bytes
  ("self.dim() cannot be 0 to view Float as Byte").
- layouts: contiguous only (ZeRO copies each parameter into its flat buffer and makes the
  parameter a view of it); ``shards`` = world: the flat buffer is split into equal partitions at
  any element, so sizes the world does not divide leave padding and split parameters.
- state injection: ZeRO's state exists only after its first step (adapters/deepspeed_rank.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from adamspec.adapters.base import Capabilities, refuse_undeclared_modes
from adamspec.adapters.rank_pool import RankError
from adamspec.adapters.third_party import version_unavailable
from adamspec.adapters.torch_sharded import DEFAULT_WORLD, WORLDS, ShardedSession, pool_for

DEEPSPEED_VERSION = "0.19.8"  # the version this adapter's capabilities were read from and tested with
STACKS = ("zero1", "zero2")
HANDLER = "adamspec.adapters.deepspeed_rank:DeepSpeedRank"
# seconds per call: an engine is built per case (deepspeed.initialize), about 0.1–0.5 s on 2 cores
CALL_DEADLINE = 60.0
START_DEADLINE = 180.0  # a deepspeed import and an engine per rank; the ops are built in warm_up
BUILD_TIMEOUT = 1800.0  # the JIT build of the two CPU ops, once per machine (minutes on 2 cores)

_BUILT = threading.Event()
_BUILD_LOCK = threading.Lock()

# Run in a subprocess with the rank's environment, so that the parent never imports deepspeed.
_BUILD = """
from deepspeed.accelerator import get_accelerator
acc = get_accelerator()
assert acc._name == "cpu", acc._name
acc.create_op_builder("FusedAdamBuilder").load()
acc.create_op_builder("ShareMemCommBuilder").load()
"""


def deepspeed_unavailable_reason() -> str | None:
    return version_unavailable("deepspeed", DEEPSPEED_VERSION,
                               "pip install -c constraints.txt 'adamspec[deepspeed]'")


def build_ops() -> None:
    """JIT-build (or load, once cached in ``TORCH_EXTENSIONS_DIR``) the CPU ``fused_adam`` and shm
    communication ops that every rank loads, in a child process: ~3 min the first time on 2 cores."""
    from adamspec.adapters.deepspeed_rank import environment

    with _BUILD_LOCK:
        if _BUILT.is_set():
            return
        env = dict(os.environ, **environment())
        proc = subprocess.run([sys.executable, "-c", _BUILD], env=env, capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT)
        if proc.returncode != 0:
            raise RuntimeError(f"building DeepSpeed's CPU ops failed:\n{proc.stderr[-3000:]}")
        _BUILT.set()


class ZeroSession(ShardedSession):
    """The sharded session without ``grads_after`` (SPEC MUT-1 is not applicable): ZeRO frees the
    gradients it was handed once it has reduced them into its flat partitions
    (``free_grad_in_param_list``), so no gradient tensor is left to inspect."""

    grads_after = None  # a protocol method set to None is not offered (adapters/base.py ExposesGradients)


class DeepSpeedZeroAdapter:
    """``deepspeed.<stack>.adamw[@world]``: DeepSpeed's ZeRO engine with the config's AdamW."""

    sweep_alone = "runs on a pool of DeepSpeed rank processes (a minute to start): name it to sweep it"

    def __init__(self, stack: str, family: str = "adamw", world: int = DEFAULT_WORLD):
        if stack not in STACKS or family != "adamw":
            raise ValueError(f"unknown DeepSpeed adapter deepspeed.{stack}.{family}")
        if world not in WORLDS:
            raise ValueError(f"world size {world}: the DeepSpeed adapters run on {', '.join(map(str, WORLDS))} ranks")
        self.stack, self.family, self.world = stack, family, world
        suffix = "" if world == DEFAULT_WORLD else f"@{world}"
        self.capabilities = Capabilities(
            name=f"deepspeed.{stack}.{family}{suffix}",
            modes=frozenset({"adamw"}),
            dtypes=frozenset({"float32"}),
            compute={"float32": "float32"},
            scalars="float32",  # the op's arguments and every derived scalar are C++ floats
            powers="product",  # IncrementStep: β^{t-1}·β; std::pow when the count jumps
            amsgrad=False,  # FusedAdam raises on amsgrad=True
            maximize=False,  # no such argument
            max_step=2**31 - 1,  # `const int step` in multi_tensor_adam
            zero_dim=False,  # deepspeed.initialize fails on a 0-d parameter (module docstring)
            layouts=frozenset({"contiguous"}),  # ZeRO copies parameters into its own flat buffer
            shards=world,  # the flat buffer is split into `world` equal partitions
            notes=f"DeepSpeed {DEEPSPEED_VERSION} ZeRO stage {stack[-1]}, config optimizer AdamW = FusedAdam "
                  f"over the CPU fused_adam op (cpu_adam kernel), fp32 parameters, on {world} gloo ranks (CPU)")

    def _pool(self):
        return pool_for(self.world, HANDLER, CALL_DEADLINE, START_DEADLINE)

    def warm_up(self) -> None:
        """Build DeepSpeed's CPU ops (once per machine; cached), start the rank pool and build one
        engine on it (each rank loads the ops: ~15 s on 2 cores; later engines take ~30 ms)."""
        build_ops()
        pool = self._pool()
        if not pool.alive:
            pool.start()
            pool.call("construct", self.stack, self.family, {}, {})

    def unavailable_reason(self) -> str | None:
        return deepspeed_unavailable_reason()

    def construct(self, **kwargs):
        try:
            return self._pool().call("construct", self.stack, self.family, {}, kwargs)
        except RankError as err:
            kind, msg, _ = err.errors[min(err.errors)]
            raise ValueError(f"{kind} on {len(err.errors)} of {self.world} ranks: {msg}") from None

    def open(self, groups, states):
        refuse_undeclared_modes(self.capabilities, groups)
        return ZeroSession(self._pool(), self.stack, self.family, {}, groups, states)
