"""Hypothesis strategies for cases, spending examples where the variants differ.

Values are drawn exactly representable in the storage dtype (drawn in binary64, then
rounded once to the dtype), over many decades but inside the range where g'² and v stay
finite in the compute format (SPEC NUM-7 covers the rest). Tensors are small by default:
a fill value plus a few drawn elements.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from adamspec.adapters.base import Capabilities, ParamState
from adamspec.conformance.cases import Case, GroupCase, ParamCase
from adamspec.reference.floats import float_format
from adamspec.reference.hyper import Hyper

# Decimal exponent ranges per storage dtype: wide, yet g² and v stay finite when computed.
EXPONENTS = {"float64": (-60, 60), "float32": (-15, 15), "bfloat16": (-15, 15), "float16": (-3, 2)}
SMALL_SHAPES = [(), (1,), (0,), (3,), (7,), (2, 3), (17,)]
BETA1 = [0.0, 1e-3, 0.5, 0.9, 0.99, 0.999999]
BETA2 = [0.0, 0.5, 0.9, 0.999, 0.99999, 0.9999999]
EPS = [1e-30, 1e-8, 1e-6, 1e-3, 0.1, 1.0]
LR = [1e-4, 1e-3, 1e-2, 0.1, 1.0]
WD = [1e-4, 1e-2, 0.1, 0.5, 5.0]
T_SMALL = [0, 1, 2]  # t ∈ {1, 2, 3} at the step


def cast(x, dtype: str):
    """Round binary64 values once to ``dtype`` (the values the implementation will hold)."""
    return np.asarray(x, dtype=np.float64).astype(float_format(dtype).dtype)


def magnitudes(dtype: str, lo=None, hi=None):
    elo, ehi = EXPONENTS[dtype]
    lo = elo if lo is None else max(lo, elo)
    hi = ehi if hi is None else min(hi, ehi)
    return st.builds(lambda e, f: f * 10.0**e, st.floats(lo, hi), st.floats(1.0, 9.99))


def signed(strategy):
    return st.builds(lambda x, s: s * x, strategy, st.sampled_from([-1.0, 1.0]))


def elements(dtype: str, lo=None, hi=None, zero=True, nonneg=False):
    vals = magnitudes(dtype, lo, hi)
    if not nonneg:
        vals = signed(vals)
    return (st.one_of(st.just(0.0), vals) if zero else vals).map(lambda x: float(cast(x, dtype)))


def arrays(dtype: str, shape, elems):
    """A fill value plus a few drawn elements, rounded to ``dtype``."""
    return hnp.arrays(np.float64, shape, elements=elems, fill=elems).map(lambda a: cast(a, dtype))


def shapes_for(caps: Capabilities, shapes, sharded: bool = True) -> list[tuple]:
    """``shapes`` as the record allows them, plus, for an implementation that splits parameters
    into ``caps.shards`` shards along dim 0 (and ``sharded``), the shapes that shard badly
    (SPEC STATE-4): a dim the shard count does not divide, one that leaves a shard empty, and a
    2-d one with an odd row count. 0-d shapes go where the record says it refuses them."""
    out = [s for s in shapes if caps.zero_dim or len(s) > 0]
    w = caps.shards
    if sharded and w > 1:
        out += [s for s in ((w - 1,), (w + 1,), (2 * w + 1, 2)) if s not in out]
    return out


def layouts_for(caps: Capabilities, layouts) -> list[str]:
    """The memory layouts of ``layouts`` the record declares (always at least contiguous)."""
    return [lay for lay in layouts if lay in caps.layouts] or ["contiguous"]


def dtypes(caps: Capabilities):
    return st.sampled_from(sorted(d for d in caps.dtypes if d in EXPONENTS))


def steps_before(caps: Capabilities):
    """The step count before the step: fresh, 1, 2, or large injected counts (10² … 10⁷)."""
    top = 10**7 if caps.max_step is None else min(10**7, caps.max_step - 1)
    return st.one_of(st.sampled_from(T_SMALL), st.integers(100, top))


@st.composite
def hypers(draw, caps: Capabilities, mode=None, weight_decay=None, lr=None, eps=None,
           amsgrad=None, maximize=None):
    """Hyperparameters from the capability record; lr·λ reaches 0.5 and beyond."""
    mode = mode or draw(st.sampled_from(sorted(caps.modes)))
    lr_v = draw(st.sampled_from(LR)) if lr is None else lr
    if weight_decay is not None:
        wd = weight_decay
    elif mode == "adam":
        wd = 0.0
    else:
        wd = draw(st.sampled_from([0.0, *WD]).filter(lambda w: lr_v * w <= 0.5))
    return Hyper(
        lr=lr_v, beta1=draw(st.sampled_from(BETA1)), beta2=draw(st.sampled_from(BETA2)),
        eps=draw(st.sampled_from(EPS)) if eps is None else eps, weight_decay=wd, mode=mode,
        amsgrad=(draw(st.booleans()) if caps.amsgrad else False) if amsgrad is None else amsgrad,
        maximize=(draw(st.booleans()) if caps.maximize else False) if maximize is None else maximize,
    )


@st.composite
def param_state(draw, dtype: str, shape, h: Hyper, t_prev: int, v_near_eps=None):
    """An injected state: m, v (and vmax) with v ≈ 0 and √v̂ comparable to ε where asked."""
    if t_prev == 0:
        return None
    m = draw(arrays(dtype, shape, elements(dtype)))
    bc2 = 1.0 - h.beta2 ** (t_prev + 1)
    near = draw(st.booleans()) if v_near_eps is None else v_near_eps
    if near:  # v = (c·ε)²·bc2 so that √v̂ ≈ c·ε
        c = st.floats(0.1, 10.0)
        v = draw(hnp.arrays(np.float64, shape, elements=c, fill=c)) ** 2 * (h.eps**2 * bc2)
        v = cast(np.where(np.isfinite(v), v, 0.0), dtype)
    else:
        elo, ehi = EXPONENTS[dtype]
        v = draw(arrays(dtype, shape, elements(dtype, 2 * elo, 2 * ehi, nonneg=True)))
    vmax = None
    if h.amsgrad:
        extra = draw(arrays(dtype, shape, elements(dtype, 2 * EXPONENTS[dtype][0],
                                                   2 * EXPONENTS[dtype][1], nonneg=True)))
        vmax = np.maximum(v, extra)
    return ParamState(None, m, v, vmax, t_prev)


def theta_values(dtype: str, h: Hyper):
    """θ over many decades, and on the scale of the step lr where low precision would drown it."""
    step_scale = magnitudes("float64", -1, 1).map(lambda x: x * max(h.lr, 1e-30))
    return st.one_of(elements(dtype), signed(step_scale).map(lambda x: float(cast(x, dtype))))


@st.composite
def single_step_cases(draw, caps: Capabilities, shapes=None, injected=True, layouts=("contiguous",), **hyper_kw):
    """One parameter, one step, from an injected (or fresh) state, in one of ``layouts``
    ("transposed" only where the shape is 2-d)."""
    dtype = draw(dtypes(caps))
    h = draw(hypers(caps, **hyper_kw))
    shape = draw(st.sampled_from(shapes_for(caps, shapes or SMALL_SHAPES, sharded=shapes is None)))
    layout = draw(st.sampled_from([lay for lay in layouts_for(caps, layouts)
                                   if lay != "transposed" or len(shape) == 2] or ["contiguous"]))
    t_prev = draw(steps_before(caps)) if injected and caps.state_injection else 0
    theta = draw(arrays(dtype, shape, theta_values(dtype, h)))
    g = draw(arrays(dtype, shape, elements(dtype)))
    st_ = draw(param_state(dtype, shape, h, t_prev))
    state = None if st_ is None else ParamState(theta, st_.m, st_.v, st_.vmax, st_.step)
    return Case((GroupCase(h, (ParamCase(theta, layout, state),)),), ((g,),))


def _l2_square_in_range(theta, dtype: str, weight_decay: float):
    """θ clipped so that the L2 term's square stays inside the storage range: a trajectory is
    about many ordinary steps; v overflowing to inf (and what follows from an infinite state) is
    non_finite's job."""
    limit = np.sqrt(float(np.finfo(np.float16).max if dtype == "float16" else 1e30)) / 10 / max(1.0, weight_decay)
    return cast(np.clip(theta.astype(np.float64), -limit, limit), dtype)


@st.composite
def trajectory_cases(draw, caps: Capabilities, max_steps=100, **hyper_kw):
    """One parameter from fresh state for up to ``max_steps`` steps."""
    dtype = draw(dtypes(caps))
    h = draw(hypers(caps, **hyper_kw))
    shape = draw(st.sampled_from(shapes_for(caps, [(3,), (5,), (2, 2)])))
    n = draw(st.integers(2, max_steps))
    theta = draw(arrays(dtype, shape, theta_values(dtype, h)))
    theta = _l2_square_in_range(theta, dtype, h.weight_decay)
    grad_elems = elements(dtype, -3, 1)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)  # long gradient sequences: drawn by numpy from a drawn seed
    base = draw(arrays(dtype, shape, grad_elems)).astype(np.float64)
    grads = tuple((cast(base * rng.uniform(-2, 2, shape), dtype),) for _ in range(n))
    return Case((GroupCase(h, (ParamCase(theta),)),), grads)


# --- schedules (SPEC GRP-4): the hyperparameters training runs change between steps -----------
# Ordered so that shrinking goes to the simplest change: one step decay first, jumps last.
LR_SCHEDULES = ("step", "warmup", "cosine", "jumps")


def lr_schedule(kind: str, lr: float, n: int, at: int, jumps: list[float]) -> list[float]:
    """The learning rate at steps 0 … n−1 (binary64): ``at`` is where a step decay or the end
    of a warm-up falls; a warm-up starts at exactly 0, as schedulers' linear warm-ups do."""
    if kind == "step":  # StepLR: ×0.1 from step ``at`` on
        return [lr if k < at else lr * 0.1 for k in range(n)]
    if kind == "warmup":  # linear from 0, flat from ``at`` on
        return [lr * min(1.0, k / at) for k in range(n)]
    if kind == "cosine":  # cosine annealing to 0 over the run
        return [lr * 0.5 * (1.0 + math.cos(math.pi * k / max(1, n - 1))) for k in range(n)]
    return [lr, *jumps[: n - 1]]


@st.composite
def scheduled_trajectories(draw, caps: Capabilities, max_steps=12, groups=(1, 2)):
    """One parameter per group from fresh state, each group with its own drawn schedule: the
    lr (step decay, warm-up from 0, cosine, arbitrary jumps), and maybe an increasing β₂ and a
    weight decay changed mid-run."""
    dtype = draw(dtypes(caps))
    mode = draw(st.sampled_from(sorted(caps.modes)))
    n = draw(st.integers(2, max_steps))
    n_groups = draw(st.integers(*groups)) if caps.groups else 1
    amsgrad = draw(st.booleans()) if caps.amsgrad else False
    group_cases, per_group = [], []
    grads = [[] for _ in range(n)]
    for _ in range(n_groups):
        h = draw(hypers(caps, mode=mode, amsgrad=amsgrad))
        at = draw(st.integers(1, n - 1))
        jumps = draw(st.lists(st.sampled_from([x for x in (0.0, *LR) if x * h.weight_decay <= 0.5]),
                              min_size=n - 1, max_size=n - 1))
        lrs = lr_schedule(draw(st.sampled_from(LR_SCHEDULES)), h.lr, n, at, jumps)
        steps = [replace(h, lr=x) for x in lrs]
        if draw(st.booleans()):  # β₂ rising towards its value, as some recipes warm it up
            steps = [replace(s, beta2=min(h.beta2, 1.0 - 1.0 / (k + 2))) for k, s in enumerate(steps)]
        if mode != "adam" and draw(st.booleans()):  # weight decay changed mid-run
            top = max(lrs)
            wd = draw(st.sampled_from([w for w in (0.0, *WD) if top * w <= 0.5]))
            change = draw(st.integers(1, n - 1))
            steps = [replace(s, weight_decay=wd) if k >= change else s for k, s in enumerate(steps)]
        per_group.append(steps)
        shape = draw(st.sampled_from(shapes_for(caps, [(3,), (5,), (2, 2)])))
        theta = draw(arrays(dtype, shape, theta_values(dtype, h)))
        theta = _l2_square_in_range(theta, dtype, max(s.weight_decay for s in steps))
        group_cases.append(GroupCase(steps[0], (ParamCase(theta),)))
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)  # the gradient sequence: drawn by numpy from a drawn seed
        base = draw(arrays(dtype, shape, elements(dtype, -3, 1))).astype(np.float64)
        for k in range(n):
            grads[k].append(cast(base * rng.uniform(-2, 2, shape), dtype))
    schedule = tuple(tuple(steps[k] for steps in per_group) for k in range(n))
    return Case(tuple(group_cases), tuple(tuple(g) for g in grads), schedule=schedule)
