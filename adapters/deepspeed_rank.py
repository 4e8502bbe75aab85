"""One rank of a DeepSpeed ZeRO stage 1 or 2 engine: what ``adapters/deepspeed_zero.py`` runs in
each rank process of a ``RankPool`` (the same pool machinery and session as the torch sharded
adapters: ``adapters/torch_sharded.py``, ``adapters/sharded_rank.py``).

Every rank builds the engine with ``deepspeed.initialize`` over the case's parameter groups (the
optimizer from the config, ``"type": "AdamW"``: on the CPU accelerator that is ``FusedAdam`` over
the CPU ``fused_adam`` op, adapters/deepspeed_zero.py says why), so that each rank holds the fp32
master partition of every group's flat buffer (``single_partition_of_fp32_groups``).

State exists only after ZeRO's first step (the basic optimizer initialises it then, and
``_lazy_init_hp_params_optimizer_state`` links each parameter's fragment of it). So ``open``
takes one step that changes nothing: lr = 0, weight decay 0, ε = 1 and zero gradients
(θ + 0·(−0) is θ bitwise, whatever θ), then writes the case's state through DeepSpeed's own
API, ``deepspeed.utils.safe_set_full_optimizer_state`` (each rank keeps its fragment of the full
value: no communication), sets each group's count in the basic optimizer's state of its flat
partition, and puts the case's hyperparameters back. A group that starts fresh gets zero moments
and count 0 and reads as stateless until its first step.

Gradients: a real backward averages across ranks, which is not exact at world 3. Each step runs
``engine.backward`` of a loss whose gradient is exactly 0 (``(θ·0).sum()`` of the parameters the
case gives a gradient), then sets the case's gradient exactly with ``safe_set_full_grad`` (the
API for changing gradients between backward and step), then ``engine.step()``. A parameter the
case gives no gradient stays out of the loss: its gradient is None, as in training, and ZeRO
does with it what it does (it steps the flat partition with a zero there).

Reading: θ is the module's parameter (full on every rank after ZeRO's all-gather), m and v come
from ``safe_get_full_optimizer_state`` (a collective), the count from the basic optimizer's
state of the group's flat partition; rank 0 returns them.
"""

from __future__ import annotations

import os

import numpy as np

from adamspec.adapters.base import ParamState, UnsupportedCase
from adamspec.adapters.sharded_rank import ShardedRank
from adamspec.adapters.torch_optim import UNLIKE_DEFAULTS, _to_numpy, _to_torch, write_hypers

STAGES = {"zero1": 1, "zero2": 2}
EXTENSIONS = os.path.join(os.path.expanduser("~"), ".cache", "adamspec", "torch_extensions")


def environment() -> dict:
    """What DeepSpeed reads at import: the CPU accelerator (gloo) and where its JIT ops are cached."""
    return {"DS_ACCELERATOR": "cpu", "TORCH_EXTENSIONS_DIR": os.environ.get("TORCH_EXTENSIONS_DIR", EXTENSIONS)}


def config(stage: int, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
           **extra) -> dict:
    """A DeepSpeed config: ZeRO ``stage``, fp32 (neither fp16 nor bf16), AdamW from the config with
    these defaults (each group's own values override them), and no clipping: 0.19.8 clips at
    norm 1.0 unless told otherwise (runtime/constants.py GRADIENT_CLIPPING_DEFAULT), and clipping
    is not the optimizer under test."""
    return {"train_micro_batch_size_per_gpu": 1, "gradient_accumulation_steps": 1,
            "optimizer": {"type": "AdamW", "params": {"lr": lr, "betas": list(betas), "eps": eps,
                                                      "weight_decay": weight_decay, **extra}},
            "zero_optimization": {"stage": stage}, "gradient_clipping": 0.0,
            "steps_per_print": 2**62, "wall_clock_breakdown": False}


def _settings(h) -> dict:
    return {"lr": h.lr, "betas": (h.beta1, h.beta2), "eps": h.eps, "weight_decay": h.weight_decay}


class DeepSpeedRank(ShardedRank):
    """The handler a rank process builds (``RankPool(world, "…deepspeed_rank:DeepSpeedRank")``)."""

    def __init__(self, rank: int, world: int):
        os.environ.update(environment())
        os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world)})
        import logging

        import deepspeed
        import torch
        import torch.distributed as dist

        deepspeed.init_distributed(dist_backend="gloo")  # wraps the pool's process group
        logging.getLogger("DeepSpeed").setLevel(logging.ERROR)
        from deepspeed.utils import logger

        logger.setLevel(logging.ERROR)
        self.deepspeed, self.torch, self.dist, self.rank, self.world = deepspeed, torch, dist, rank, world
        self.engine = self.opt = None

    # --- building ------------------------------------------------------------------------

    def _engine(self, arrays, groups, defaults: dict):
        torch = self.torch
        module = torch.nn.Module()
        # fresh tensors in torch's own strides: numpy gives an empty array strides of 0, and
        # engine._broadcast_model's view as bytes needs a last stride of 1
        module.params = torch.nn.ParameterList([torch.nn.Parameter(torch.empty(a.shape, dtype=torch.float32).copy_(
            _to_torch(torch, a))) for a in arrays])
        params, i, param_groups = list(module.params), 0, []
        for settings, n in groups:
            param_groups.append({"params": params[i:i + n], **settings})
            i += n
        engine, _, _, _ = self.deepspeed.initialize(model=module, model_parameters=param_groups,
                                                    config=config(self.stage_n, **defaults))
        return engine, params

    def _partition(self, j: int):
        """Group ``j``'s fp32 master partition on this rank, and its state in the basic optimizer."""
        zero = self.engine.optimizer
        flat = zero.single_partition_of_fp32_groups[j]
        return flat, zero.optimizer.state[flat]

    def open(self, stack: str, family: str, path_kwargs: dict, groups, states) -> None:
        if stack not in STAGES:
            raise ValueError(f"unknown ZeRO stack {stack!r}; the stacks are {tuple(STAGES)}")
        self.stack, self.stage_n = stack, STAGES[stack]
        arrays = [np.asarray(a) for g in groups for a in g.params]
        if any(a.ndim == 0 for a in arrays):
            raise UnsupportedCase("deepspeed.initialize fails on a 0-d parameter (engine._broadcast_model views it "
                                  "as bytes: 'self.dim() cannot be 0'; declared: zero_dim False)")
        self.dtypes = [a.dtype for a in arrays]
        self.sizes = [len(g.params) for g in groups]
        if any(all(np.size(a) == 0 for a in g.params) for g in groups):
            raise UnsupportedCase("ZeRO leaves zero-element parameters out of the optimizer "
                                  "(runtime/utils.py is_optimized_parameter), and a group with no other "
                                  "parameter makes Stage1And2ZeroOptimizer.__init__ raise IndexError "
                                  "(bit16_groups[i][0])")
        counts, i = [], 0
        for n in self.sizes:
            mine = {None if st is None else st.step for st in states[i:i + n]}
            if len(mine) > 1:
                raise UnsupportedCase("ZeRO keeps one step count per parameter group (the basic optimizer "
                                      "steps one flat partition per group): the parameters of a group "
                                      f"cannot start at different counts ({sorted(mine, key=str)})")
            counts.append(next(iter(mine), None))
            i += n
        self.engine, self.params = self._engine(arrays, [(_settings(g.hyper), n) for g, n in zip(groups, self.sizes)],
                                                {})
        self.opt = self.engine.optimizer
        self._first_step(groups, states, counts)
        self._grads, self._ptrs = [], []

    def _first_step(self, groups, states, counts) -> None:
        """The step that makes ZeRO's state (changing nothing), then the case's state written in."""
        from deepspeed.utils import safe_set_full_optimizer_state

        torch = self.torch
        for group in self.opt.param_groups:
            group.update(lr=0.0, eps=1.0, weight_decay=0.0)
        self.engine.backward(sum((p * 0.0).sum() for p in self.params))
        self.engine.step()
        # ZeRO links each parameter to its fragment of the state once, right after the basic
        # optimizer has stepped the *first* group (_optimizer_step → _lazy_init_hp_params_optimizer_state),
        # when the later groups have no state yet: their parameters stay linked to nothing and the
        # safe_*_optimizer_state API raises "exp_avg not found in optimizer state fragment"
        # (tests/fixtures/deepspeed_zero_repro.py). Link again, with DeepSpeed's own function, now
        # that every group has state.
        self.opt._hp_optimizer_states_linked = False
        self.opt._lazy_init_hp_params_optimizer_state()
        self.stateless = []  # per group: fresh and not yet stepped (reads as no state)
        i = 0
        for j, (g, n, count) in enumerate(zip(groups, self.sizes, counts)):
            flat, st = self._partition(j)
            st["step"] = 0 if count is None else int(count)
            for p, s in zip(self.params[i:i + n], states[i:i + n]):
                for key, value in (("exp_avg", None if s is None else s.m), ("exp_avg_sq", None if s is None else s.v)):
                    full = torch.zeros(p.shape) if count is None else _to_torch(torch, np.asarray(value, np.float32))
                    safe_set_full_optimizer_state(p, full, key)
            self.stateless.append(count is None)
            write_hypers(self.opt.param_groups[j], g.hyper)
            i += n

    # --- the session's operations --------------------------------------------------------

    def step(self, grads) -> None:
        from deepspeed.utils import safe_set_full_grad

        torch = self.torch
        given = [p for p, g in zip(self.params, grads, strict=True) if g is not None]
        self.engine.backward(sum((p * 0.0).sum() for p in (given or self.params)))
        for p, g in zip(self.params, grads):
            if g is not None:
                safe_set_full_grad(p, _to_torch(torch, np.asarray(g)))
        self._ptrs = [self._where(p) for p in self.params]
        self.engine.step()
        self.stateless = [False] * len(self.sizes)

    def set_hypers(self, hypers) -> None:
        for group, h in zip(self.opt.param_groups, hypers, strict=True):
            write_hypers(group, h)

    def read(self):
        """θ (the module's parameters), m and v gathered (``safe_get_full_optimizer_state``, a
        collective) and each group's count; rank 0 returns them, the others None."""
        from deepspeed.utils import safe_get_full_optimizer_state

        out, i = [], 0
        for j, n in enumerate(self.sizes):
            step = int(self._partition(j)[1]["step"])
            for p, dt in zip(self.params[i:i + n], self.dtypes[i:i + n]):
                theta = _to_numpy(p.detach(), dt)
                if p.numel() == 0:  # left out of the optimizer (is_optimized_parameter): no state at all
                    out.append(ParamState(theta))
                    continue
                m = safe_get_full_optimizer_state(p, "exp_avg")
                v = safe_get_full_optimizer_state(p, "exp_avg_sq")
                # count 0: the inert first step's state, which DeepSpeed would not have made (no
                # step yet, or every step skipped): no state
                out.append(ParamState(theta) if self.stateless[j] or step == 0 else
                           ParamState(theta, m.detach().numpy().copy(), v.detach().numpy().copy(), None, step))
            i += n
        return out if self.rank == 0 else None

    def construct(self, stack: str, family: str, path_kwargs: dict, kwargs: dict) -> None:
        """An engine over one parameter with the raw keywords in the config's optimizer params,
        as a DeepSpeed user passes them (SPEC VAL-*)."""
        self.stack, self.stage_n = stack, STAGES[stack]
        kwargs = dict(kwargs)
        if "betas" in kwargs:
            kwargs["betas"] = list(kwargs["betas"])
        torch = self.torch
        module = torch.nn.Linear(2 * self.world, 1, bias=False)
        cfg = config(self.stage_n)
        cfg["optimizer"]["params"].update(kwargs)
        self.deepspeed.initialize(model=module, model_parameters=module.parameters(), config=cfg)

    def resume(self) -> None:
        """Checkpoint through ``engine.save_checkpoint`` (every rank writes its partition of the
        optimizer state to a shared folder), build a fresh engine over fresh parameters holding the
        current values, with defaults unlike the saved groups', and ``load_checkpoint`` into it."""
        import shutil
        import tempfile

        folder = [tempfile.mkdtemp(prefix="adamspec-ds-") if self.rank == 0 else None]
        self.dist.broadcast_object_list(folder, src=0)
        try:
            self.engine.save_checkpoint(folder[0], tag="resume")
            arrays = [_to_numpy(p.detach(), dt) for p, dt in zip(self.params, self.dtypes)]
            defaults = {k: UNLIKE_DEFAULTS[k] for k in ("lr", "betas", "eps", "weight_decay")}
            self.engine, self.params = self._engine(arrays, [({}, n) for n in self.sizes], defaults)
            self.opt = self.engine.optimizer
            path, _ = self.engine.load_checkpoint(folder[0], tag="resume", load_optimizer_states=True,
                                                  load_lr_scheduler_states=False)
            if path is None:
                raise RuntimeError(f"DeepSpeed found no checkpoint in {folder[0]}")
        finally:
            self.dist.barrier()
            if self.rank == 0:
                shutil.rmtree(folder[0], ignore_errors=True)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.destroy()
        self.engine = self.opt = self.params = None
