"""torch's Adam/AdamW with sharded state under torch.distributed: FSDP2 (``fully_shard``),
DTensor (``distribute_tensor(…, [Shard(0)])``) and ``ZeroRedundancyOptimizer``.

Names: ``torch.<stack>.<adam|adamw>.<forloop|foreach|fused>[@world]``. Each case runs on every
rank of a persistent ``RankPool`` (gloo on 127.0.0.1, started in ``warm_up``, shared by every
sharded adapter of one world size); the results are gathered and judged against the exact
reference like any other adapter's, never against a single-process torch run.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from adamspec.adapters.base import NotApplicable, UnsupportedCase
from adamspec.adapters.rank_pool import RankError, RankFailure, RankPool
from adamspec.adapters.torch_optim import _PATHS, TorchAdamAdapter, check_modes

STACK_FAMILIES = {"fsdp2": ("adam", "adamw"), "dtensor": ("adamw",), "zero": ("adamw",)}
SHARDED_PATHS = ("forloop", "foreach", "fused")
DEFAULT_WORLD = 2
WORLDS = (2, 3, 4)
CALL_DEADLINE = 20.0  # seconds per call on every rank: a case takes 20–150 ms, start-up excluded
HANDLER = "adamspec.adapters.sharded_rank:ShardedRank"

_POOLS: dict[tuple[int, str], RankPool] = {}
_POOLS_LOCK = threading.Lock()


def pool_for(world: int, handler: str = HANDLER, deadline: float = CALL_DEADLINE,
             start_deadline: float = 90.0) -> RankPool:
    """The rank pool of ``world`` ranks running ``handler`` that this process shares among its
    sharded adapters (the torch stacks share one per world size; DeepSpeed has its own)."""
    with _POOLS_LOCK:
        if (world, handler) not in _POOLS:
            _POOLS[world, handler] = RankPool(world, handler, deadline=deadline, start_deadline=start_deadline)
        return _POOLS[world, handler]


def _refusal(err: RankError, world: int) -> Exception | None:
    """An UnsupportedCase (or NotApplicable) that every rank raised, re-raised in the parent; ranks
    that disagree are an error."""
    if len(err.errors) == world and err.kinds <= {"UnsupportedCase", "NotApplicable"}:
        kind, msg, _ = err.errors[min(err.errors)]
        return (NotApplicable if kind == "NotApplicable" else UnsupportedCase)(msg)
    return None


def _call(pool: RankPool, op: str, *args) -> list:
    """``op`` on every rank; a refusal raised by the ranks is a refusal here, any other rank
    error or a dead or hung rank an error naming the operation."""
    try:
        return pool.call(op, *args)
    except RankError as err:
        refusal = _refusal(err, pool.world)
        if refusal is not None:
            raise refusal from None
        tb = next(iter(err.errors.values()))[2]
        raise RuntimeError(f"{err}\n--- first rank's traceback ---\n{tb}") from None
    except RankFailure as failure:
        raise RuntimeError(f"sharded run failed, the rank pool was ended and will restart: {failure}") from None


class ShardedSession:
    """One sharded optimizer across the pool's ranks; reads come gathered from rank 0."""

    def __init__(self, pool: RankPool, stack, family, path_kwargs, groups, states):
        self.pool = pool
        _call(pool, "open", stack, family, path_kwargs, list(groups), list(states))

    def step(self, grads):
        _call(self.pool, "step", list(grads))

    def read(self):
        return _call(self.pool, "read")[0]

    def set_hypers(self, hypers):
        _call(self.pool, "set_hypers", list(hypers))

    def grads_after(self):
        return _call(self.pool, "grads_after")[0]

    def updated_in_place(self):
        return _call(self.pool, "updated_in_place")[0]

    def resume(self):
        _call(self.pool, "resume")

    def close(self):
        if self.pool.alive:
            _call(self.pool, "close")


class TorchShardedAdapter(TorchAdamAdapter):
    """``torch.<stack>.<family>.<path>[@world]``: torch's optimizer under a sharding stack."""

    sweep_alone = "runs on a pool of rank processes (seconds to start, 20–150 ms a case): name it to sweep it"

    def __init__(self, stack: str, family: str, path: str, world: int = DEFAULT_WORLD):
        if stack not in STACK_FAMILIES or family not in STACK_FAMILIES[stack] or path not in SHARDED_PATHS:
            raise ValueError(f"unknown sharded adapter torch.{stack}.{family}.{path}")
        if world not in WORLDS:
            raise ValueError(f"world size {world}: the sharded adapters run on {', '.join(map(str, WORLDS))} ranks")
        super().__init__(family, path)
        self.stack, self.world = stack, world
        local = self.capabilities
        suffix = "" if world == DEFAULT_WORLD else f"@{world}"
        how = {"fsdp2": "FSDP2 fully_shard", "dtensor": "DTensor Shard(0)",
               "zero": "ZeroRedundancyOptimizer"}[stack]
        self.capabilities = replace(
            local, name=f"torch.{stack}.{family}.{path}{suffix}",
            zero_dim=stack != "fsdp2",  # fully_shard refuses scalar parameters
            layouts=frozenset({"contiguous"}),  # the stacks allocate their own shards
            shards=world if stack in ("fsdp2", "dtensor") else 1,  # ZeRO assigns whole tensors
            notes=f"{local.notes}, under {how} on {world} gloo ranks (CPU)")

    def warm_up(self) -> None:
        """Start the rank pool (seconds: a torch import and a process group per rank)."""
        pool_for(self.world).start()

    def unavailable_reason(self) -> str | None:
        import torch.distributed as dist

        return None if dist.is_available() else "torch.distributed is not available in this torch build"

    def construct(self, **kwargs):
        results = None
        try:
            results = pool_for(self.world).call("construct", self.stack, self.family, dict(_PATHS[self.path]),
                                                kwargs)
        except RankError as err:
            kind, msg, _ = err.errors[min(err.errors)]
            raise ValueError(f"{kind} on {len(err.errors)} of {self.world} ranks: {msg}") from None
        return results

    def open(self, groups, states):
        check_modes(self.capabilities, self.family, groups)
        return ShardedSession(pool_for(self.world), self.stack, self.family, dict(_PATHS[self.path]),
                              groups, states)
