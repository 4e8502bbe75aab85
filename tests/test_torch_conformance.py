"""torch.optim.Adam and AdamW on CPU judged against the exact reference within the derived bound.

A direct check beside the engine (tests/test_builtin_adapters.py runs the same adapters through it):
every torch CPU path, every mode, every dtype it supports, single
steps from injected states in the regions where variants differ, and a re-based
trajectory (SPEC NUM-2, NUM-5).
"""

import zlib

import numpy as np
import pytest

from adamspec.adapters.base import GroupSpec, ParamState
from adamspec.conformance.judge import judge_step
from adamspec.reference import Hyper, float_format

torch = pytest.importorskip("torch", reason="torch is an optional extra: pip install 'adamspec[torch]'")
from adamspec.adapters.torch_optim import TorchAdamAdapter, TorchClassAdapter  # noqa: E402

PATHS = ["forloop", "foreach", "fused"]
DTYPES = ["float64", "float32", "bfloat16", "float16"]


def _draw(rng, dtype, n, t_prev, h):
    dt = float_format(dtype).dtype
    fp16 = dtype == "float16"
    lo, hi = (-3, 2) if fp16 else (-6, 3)
    r = lambda a, b: 10.0 ** rng.uniform(a, b, n)  # noqa: E731
    sign = lambda: rng.choice([-1.0, 1.0], n)  # noqa: E731
    theta = sign() * np.where(rng.random(n) < 0.5, h.lr * r(-1, 1), r(lo, hi))
    g = sign() * r(lo, hi) * (rng.random(n) > 0.1)  # some rows with g = 0
    m = sign() * r(lo, hi) if t_prev else np.zeros(n)
    # v near 0 with √v̂ comparable to ε, as well as ordinary second moments.
    bc2 = 1 - h.beta2 ** (t_prev + 1)
    v_small = (h.eps * r(-1, 1)) ** 2 * bc2
    v = np.where(rng.random(n) < 0.3, v_small, r(2 * lo, 2 * hi)) if t_prev else np.zeros(n)
    if fp16:  # keep g² and v inside float16's range (NUM-7 covers overflow separately)
        v = np.clip(v, 0, 1e4)
    cast = lambda a: np.asarray(a).astype(dt)  # noqa: E731
    return cast(theta), cast(g), cast(m), cast(v)


def _hypers(family, rng):
    modes = ["adamw"] if family == "adamw" else ["adam", "adam_l2"]
    for mode in modes:
        for amsgrad in (False, True):
            wd = 0.0 if mode == "adam" else float(rng.choice([0.01, 0.1, 0.5]))
            yield Hyper(lr=float(rng.choice([1e-3, 0.1])), beta1=0.9, beta2=0.999,
                        eps=float(rng.choice([1e-8, 1e-3])), weight_decay=wd, mode=mode,
                        amsgrad=amsgrad, maximize=bool(rng.random() < 0.3))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("family", ["adam", "adamw"])
def test_single_steps_within_bound(family, path, dtype):
    adapter = TorchAdamAdapter(family, path)
    rng = np.random.default_rng(zlib.crc32(f"{family}.{path}.{dtype}".encode()))  # stable across processes
    for h in _hypers(family, rng):
        for t_prev in (0, 1, 2, 999, 10**6):
            theta, g, m, v = _draw(rng, dtype, 48, t_prev, h)
            vmax = np.maximum(v, v[::-1]) if h.amsgrad else None
            before = ParamState(theta, m, v, vmax, t_prev) if t_prev else ParamState(theta)
            session = adapter.open([GroupSpec(h, (theta,))], [before])
            session.step([g])
            (after,) = session.read()
            verdict = judge_step(before, g, h, after, adapter.capabilities)
            assert verdict.ok, (h, t_prev, verdict.worst_fraction)
            assert after.step == t_prev + 1


@pytest.mark.parametrize("path", PATHS)
def test_adamw_trajectory_rebased_each_step(path):
    """30 steps from fresh state; each judged from the implementation's own state (NUM-5)."""
    adapter = TorchAdamAdapter("adamw", path)
    rng = np.random.default_rng(3)
    h = Hyper(lr=0.01, weight_decay=0.1, mode="adamw")
    theta = rng.standard_normal(64).astype(np.float32)
    session = adapter.open([GroupSpec(h, (theta,))], [None])
    before = ParamState(theta)
    for _ in range(30):
        g = rng.standard_normal(64).astype(np.float32)
        session.step([g])
        (after,) = session.read()
        assert judge_step(before, g, h, after, adapter.capabilities).ok
        before = after
    assert before.step == 30


class _EpsInsideRootAdamW(torch.optim.Optimizer):
    """A deliberately wrong AdamW: ε inside the square root (optax's eps_root sold as AdamW)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, **_):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                st = self.state[p]
                if not st:
                    st.update(step=torch.tensor(0.0), exp_avg=torch.zeros_like(p),
                              exp_avg_sq=torch.zeros_like(p))
                st["step"] += 1
                t = st["step"].item()
                p.mul_(1 - group["lr"] * group["weight_decay"])
                st["exp_avg"].lerp_(p.grad, 1 - b1)
                st["exp_avg_sq"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                denom = (st["exp_avg_sq"] / (1 - b2**t) + group["eps"]).sqrt()
                p.addcdiv_(st["exp_avg"], denom, value=-group["lr"] / (1 - b1**t))


def test_the_check_rejects_a_wrong_adamw():
    """The same judgement fails an optimizer with ε inside the root, in the v ≈ ε region."""
    adapter = TorchClassAdapter(_EpsInsideRootAdamW, "adamw")
    rng = np.random.default_rng(5)
    h = Hyper(lr=1e-3, eps=1e-8, weight_decay=0.01, mode="adamw")
    theta, g, m, v = _draw(rng, "float32", 48, 100, h)
    before = ParamState(theta, m, (np.full(48, 1e-8) * (1 - 0.999**101)).astype(np.float32), None, 100)
    session = adapter.open([GroupSpec(h, (theta,))], [before])
    session.step([g])
    (after,) = session.read()
    assert not judge_step(before, g, h, after, adapter.capabilities).ok
