"""One rank of a sharded torch optimizer: what ``adapters/torch_sharded.py`` runs in each rank
process of a ``RankPool``.

Every rank receives the whole case (numpy arrays) and slices its own shard the way
``torch.chunk`` does (5 rows on 4 ranks: 2 + 2 + 1 + 0), which is how FSDP2 and ``Shard(0)``
place rows; each slice is checked against the shape the stack gives the rank, so that a
mismatch is an error, not a wrong verdict. State is injected shard by shard (no communication)
and read back gathered through each stack's own API; rank 0 returns it.

Stacks: ``fsdp2`` (``fully_shard`` of a module holding the parameters), ``dtensor``
(``distribute_tensor(…, [Shard(0)])``, 0-d parameters replicated) and ``zero``
(``ZeroRedundancyOptimizer``: whole parameters assigned to ranks, each stepped by its owner).
"""

from __future__ import annotations

import io

import numpy as np

from adamspec.adapters.base import ParamState, UnsupportedCase
from adamspec.adapters.torch_optim import (
    UNLIKE_DEFAULTS,
    _state_numpy,
    _to_numpy,
    _to_torch,
    inject_state,
    optimizer_class,
    write_hypers,
)

STACKS = ("fsdp2", "dtensor", "zero")


def _group_settings(h) -> dict:
    return {"lr": h.lr, "betas": (h.beta1, h.beta2), "eps": h.eps, "weight_decay": h.weight_decay,
            "amsgrad": h.amsgrad, "maximize": h.maximize}


class ShardedRank:
    """The handler a rank process builds (``RankPool(world, "…sharded_rank:ShardedRank")``)."""

    def __init__(self, rank: int, world: int):
        import torch
        import torch.distributed as dist
        from torch.distributed.device_mesh import init_device_mesh

        self.torch, self.dist, self.rank, self.world = torch, dist, rank, world
        self.mesh = init_device_mesh("cpu", (world,))
        self.opt = None

    # --- shards ---------------------------------------------------------------------------

    def _chunk(self, a: np.ndarray) -> np.ndarray:
        """This rank's rows of ``a`` as ``torch.chunk`` splits them (0-d: the whole value)."""
        if a.ndim == 0:
            return a
        rows = -(-a.shape[0] // self.world) if a.shape[0] else 0
        return a[self.rank * rows:(self.rank + 1) * rows] if rows else a[:0]

    def _sharded(self, p) -> bool:
        return self.stack != "zero" and p.dim() > 0

    def _local(self, p, a: np.ndarray):
        """``a`` as the stack holds it for parameter ``p``: a Shard(0) DTensor of this rank's rows,
        a replicated DTensor (0-d under dtensor), or a plain tensor (ZeRO)."""
        torch = self.torch
        if self.stack == "zero":
            return _to_torch(torch, a)
        from torch.distributed.tensor import DTensor

        local = _to_torch(torch, self._chunk(a))
        expected = tuple(p.to_local().shape)
        if tuple(local.shape) != expected:
            raise RuntimeError(f"shard mismatch on rank {self.rank}: torch.chunk gives {tuple(local.shape)}, "
                               f"the stack holds {expected} for a parameter of shape {tuple(p.shape)}")
        return DTensor.from_local(local, p.device_mesh, p.placements, run_check=False,
                                  shape=p.shape, stride=p.stride())

    def _full(self, t, dtype) -> np.ndarray:
        """A parameter or state tensor gathered to every rank (a collective for DTensors)."""
        full = t.full_tensor() if hasattr(t, "full_tensor") else t
        return _to_numpy(full, dtype) if dtype is not None else _state_numpy(full)

    # --- building ------------------------------------------------------------------------

    def _parameters(self, arrays):
        torch = self.torch
        if self.stack == "fsdp2":
            from torch.distributed.fsdp import fully_shard

            if any(a.ndim == 0 for a in arrays):
                raise UnsupportedCase("fully_shard does not shard 0-d parameters (declared: zero_dim False)")
            module = torch.nn.Module()
            module.params = torch.nn.ParameterList([torch.nn.Parameter(_to_torch(torch, a)) for a in arrays])
            fully_shard(module, mesh=self.mesh)
            return module, list(module.params)
        module = torch.nn.Module()  # DCP's state-dict helpers want a module over the parameters
        if self.stack == "dtensor":
            from torch.distributed.tensor import Replicate, Shard, distribute_tensor

            ps = [torch.nn.Parameter(distribute_tensor(_to_torch(torch, a), self.mesh,
                                                       [Shard(0)] if a.ndim else [Replicate()]))
                  for a in arrays]
        else:
            ps = [torch.nn.Parameter(_to_torch(torch, a)) for a in arrays]
        module.params = torch.nn.ParameterList(ps)
        return module, list(module.params)

    def _optimizer(self, param_groups, defaults: dict):
        cls = optimizer_class(self.family)
        if self.stack == "zero":
            from torch.distributed.optim import ZeroRedundancyOptimizer

            return ZeroRedundancyOptimizer(param_groups, optimizer_class=cls, **self.path_kwargs, **defaults)
        return cls(param_groups, **self.path_kwargs, **defaults)

    def _build(self, arrays, hypers_per_group, sizes, defaults=None):
        self.module, self.params = self._parameters(arrays)
        groups, i = [], 0
        for h, n in zip(hypers_per_group, sizes):
            settings = {} if h is None else _group_settings(h)
            groups.append({"params": self.params[i:i + n], **settings})
            i += n
        self.opt = self._optimizer(groups, defaults or {})

    def open(self, stack: str, family: str, path_kwargs: dict, groups, states) -> None:
        if stack not in STACKS:
            raise ValueError(f"unknown stack {stack!r}; the stacks are {STACKS}")
        self.stack, self.family, self.path_kwargs = stack, family, dict(path_kwargs)
        arrays = [np.asarray(a) for g in groups for a in g.params]
        self.dtypes = [a.dtype for a in arrays]
        self._build(arrays, [g.hyper for g in groups], [len(g.params) for g in groups])
        self._inject(states)
        self._grads, self._ptrs = [], []

    def _inject(self, states) -> None:
        torch = self.torch
        if self.stack == "zero":  # only the owner keeps a parameter's state (zero._param_to_rank)
            owned = [(p, s) for p, s in zip(self.params, states) if self.opt._param_to_rank[p] == self.rank]
            inject_state(torch, self.opt.optim, [p for p, _ in owned], [s for _, s in owned],
                         lambda a: _to_torch(torch, a))
            return
        for p, st in zip(self.params, states):
            if st is not None and st.step is not None:
                inject_state(torch, self.opt, [p], [st], lambda a, p=p: self._local(p, a))

    # --- the session's operations --------------------------------------------------------

    def step(self, grads) -> None:
        self._grads = []
        for p, g in zip(self.params, grads, strict=True):
            p.grad = None if g is None else self._local(p, np.asarray(g))
            self._grads.append(p.grad)
        self._ptrs = [self._where(p) for p in self.params]
        self.opt.step()

    def _where(self, p):
        local = p.to_local() if hasattr(p, "to_local") else p
        return local.data_ptr(), local.stride()

    def set_hypers(self, hypers) -> None:
        for group, h in zip(self.opt.param_groups, hypers, strict=True):
            write_hypers(group, h)

    def read(self):
        """Parameters and state gathered; rank 0 returns them, the others None."""
        out = []
        state = self._zero_state() if self.stack == "zero" else None
        for i, (p, dt) in enumerate(zip(self.params, self.dtypes)):
            theta = self._full(p.detach(), dt)
            st = state.get(i) if state is not None else self.opt.state.get(p)
            if not st:
                out.append(ParamState(theta))
                continue
            vmax = st.get("max_exp_avg_sq")
            step = st.get("step")
            out.append(ParamState(theta, self._full(st["exp_avg"], None), self._full(st["exp_avg_sq"], None),
                                  None if vmax is None else self._full(vmax, None),
                                  None if step is None else int(step.item() if hasattr(step, "item") else step)))
        return out if self.rank == 0 else None

    def _zero_state(self) -> dict:
        """ZeRO's whole state on rank 0 (``consolidate_state_dict``, a collective), keyed by
        parameter index in param-group order; {} on the other ranks."""
        self.opt.consolidate_state_dict(to=0)
        return self.opt.state_dict()["state"] if self.rank == 0 else {}

    def grads_after(self):
        out = [None if g is None else self._full(g, dt) for g, dt in zip(self._grads, self.dtypes)]
        return out if self.rank == 0 else None

    def updated_in_place(self):
        here = [self._where(p) == ptr for p, ptr in zip(self.params, self._ptrs)]
        every = [None] * self.world
        self.dist.all_gather_object(every, here)
        return [all(r[i] for r in every) for i in range(len(here))] if self.rank == 0 else None

    def construct(self, stack: str, family: str, path_kwargs: dict, kwargs: dict) -> None:
        """Build the optimizer from raw keywords over one sharded parameter (SPEC VAL-*)."""
        self.stack, self.family, self.path_kwargs = stack, family, dict(path_kwargs)
        _, params = self._parameters([np.zeros(2 * self.world)])
        self._optimizer(params, kwargs)

    def resume(self) -> None:
        """Checkpoint through the stack's own API to bytes, rebuild over fresh parameters holding
        the current values, with defaults unlike the saved groups' (maximize flipped), restore.

        FSDP2 and DTensor: ``get_optimizer_state_dict(full_state_dict, cpu_offload)`` on rank 0,
        ``set_optimizer_state_dict(full_state_dict, broadcast_from_rank0, strict=False)`` (strict
        refuses a parameter without state). ZeRO: ``consolidate_state_dict`` + ``state_dict`` on
        rank 0, broadcast, ``load_state_dict``. amsgrad is kept: restored into an optimizer built
        with amsgrad flipped, DCP leaves rank 0 a plain-tensor max_exp_avg_sq and the other ranks
        none, and the next step fails on every rank (tests/fixtures/dcp_amsgrad_repro.py; README,
        Known deviations of real implementations).
        """
        torch = self.torch
        arrays = [self._full(p.detach(), dt) for p, dt in zip(self.params, self.dtypes)]
        first = self.opt.param_groups[0]
        sizes = [len(g["params"]) for g in self.opt.param_groups]
        defaults = {**UNLIKE_DEFAULTS, "amsgrad": first["amsgrad"], "maximize": not first["maximize"]}
        if self.stack == "zero":
            self.opt.consolidate_state_dict(to=0)
            saved = [_saved(torch, self.opt.state_dict()) if self.rank == 0 else None]
            self.dist.broadcast_object_list(saved, src=0)
            self._build(arrays, [None] * len(sizes), sizes, defaults)
            self.opt.load_state_dict(torch.load(io.BytesIO(saved[0]), weights_only=True))
            return
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_optimizer_state_dict,
            set_optimizer_state_dict,
        )

        sd = get_optimizer_state_dict(self.module, self.opt,
                                      options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        blob = _saved(torch, sd) if self.rank == 0 else None
        self._build(arrays, [None] * len(sizes), sizes, defaults)
        loaded = torch.load(io.BytesIO(blob), weights_only=True) if self.rank == 0 else {}
        set_optimizer_state_dict(self.module, self.opt, optim_state_dict=loaded,
                                 options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True,
                                                          strict=False))

    def close(self) -> None:
        self.opt = self.params = self.module = None


def _saved(torch, state_dict) -> bytes:
    buf = io.BytesIO()
    torch.save(state_dict, buf)
    return buf.getvalue()
