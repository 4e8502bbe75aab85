"""The compiled adapters compile what users compile: ``opt.step`` of a real torch optimizer
(issue 13), run as compiled code only, reused across examples without leaking state."""

import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is an optional extra: pip install 'adamspec[torch]'")

from adamspec.adapters import torch_compiled  # noqa: E402
from adamspec.adapters.base import GroupSpec, ParamState  # noqa: E402
from adamspec.adapters.registry import load_adapter  # noqa: E402
from adamspec.reference.hyper import Hyper  # noqa: E402

CPU_NAMES = [f"torch.adamw.{p}" for p in torch_compiled.PATHS]
f32, f64 = np.float32, np.float64


def _cases():
    """(groups, states, grads) on ONE structure (two groups: [3-vector, 2×2 transposed], [strided
    4-vector, amsgrad]) so that every example reuses one optimizer: fresh state, injected state,
    a parameter without gradient with and without state, then fresh again."""
    def groups(lr, b2, wd):
        return [GroupSpec(Hyper(mode="adamw", lr=lr, beta2=b2, weight_decay=wd),
                          (np.array([1, -2, 3], f32), np.array([[1, 2], [3, 4]], f32)), ("contiguous", "transposed")),
                GroupSpec(Hyper(mode="adamw", lr=3 * lr, amsgrad=True), (np.array([4, 3, 2, 1], f32),), ("strided",))]
    st = ParamState(np.array([1, -2, 3], f32), np.full(3, .5, f32), np.full(3, .25, f32), None, 7)
    st_ams = ParamState(np.arange(4, dtype=f32), np.full(4, -.5, f32), np.full(4, .125, f32), np.full(4, .5, f32), 3)
    g3, g22, g4 = np.ones(3, f32), np.array([[1, -1], [2, -2]], f32), -np.ones(4, f32)
    return [
        (groups(1e-3, .999, 0.0), [None, None, None], [g3, g22, g4]),             # fresh: _init_group
        (groups(2e-3, .9, 0.1), [st, None, st_ams], [g3, g22, g4]),               # injected, mixed
        (groups(2e-3, .9, 0.1), [st, None, st_ams], [g3, None, g4]),              # no grad, no state
        (groups(5e-4, .5, 0.0), [None, None, None], [None, g22, g4]),             # no grad, fresh
        (groups(2e-3, .9, 0.1), [st, None, st_ams], [None, g22, None]),           # no grad, injected
        (groups(1e-3, .999, 0.0), [None, None, None], [g3, g22, g4]),             # fresh again
    ]


def _run(adapter, groups, states, grads, steps=2):
    s = adapter.open(groups, states)
    try:
        for _ in range(steps):
            s.step(grads)
        return s.read()
    finally:
        s.close()


# ~20 s each: the first path in CI, the others with -m slow
@pytest.mark.parametrize("name", [CPU_NAMES[0], *(pytest.param(n, marks=pytest.mark.slow) for n in CPU_NAMES[1:])])
def test_reused_optimizer_matches_a_fresh_eager_one_example_after_example(name):
    """Each example on the pooled optimizer ends exactly where torch's eager for-loop optimizer,
    built fresh for that example, ends: the same parameters have state (none leaks from an earlier
    example), the same step counts and state keys, the same values to float32 rounding."""
    compiled, eager = load_adapter(name), load_adapter("torch.adamw.forloop")
    torch_compiled._POOL.clear()
    for i, case in enumerate(_cases()):
        got, want = _run(compiled, *case), _run(eager, *case)
        for j, (a, b) in enumerate(zip(got, want)):
            where = f"example {i}, parameter {j}"
            assert (a.step, a.m is None, a.vmax is None) == (b.step, b.m is None, b.vmax is None), where
            np.testing.assert_allclose(a.theta, b.theta, rtol=2e-6, atol=1e-9, err_msg=where)
            if b.m is not None:
                np.testing.assert_allclose(a.m, b.m, rtol=2e-6, err_msg=where)
                np.testing.assert_allclose(a.v, b.v, rtol=2e-6, err_msg=where)
            if b.vmax is not None:
                np.testing.assert_allclose(a.vmax, b.vmax, rtol=2e-6, err_msg=where)
    assert [len(v) for v in torch_compiled._POOL.values()] == [1]  # one optimizer served them all


def test_opt_step_is_what_gets_compiled_and_nothing_runs_eagerly():
    """dynamo's cache entries sit on Optimizer.step's wrapper (what torch.compile(opt.step)
    compiles); the functional ``adam`` is inlined, never a frame of its own; a profiled step runs
    only compiled regions — no eager aten op of Adam's math."""
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list
    from torch._dynamo.utils import counters
    from torch.profiler import ProfilerActivity, profile

    adapter = load_adapter("torch.adamw.compiled")
    groups = [GroupSpec(Hyper(mode="adamw", weight_decay=0.1), (np.ones(6, f32),))]
    st = ParamState(np.ones(6, f32), np.zeros(6, f32), np.zeros(6, f32), None, 4)
    frames_before = counters["frames"]["ok"]
    s = adapter.open(groups, [st])
    s.step([np.ones(6, f32)])
    assert counters["frames"]["ok"] > frames_before  # compiled now, by dynamo
    assert _debug_get_cache_entry_list(torch.optim.AdamW.step.__code__)  # the hooked opt.step
    functional = sys.modules["torch.optim.adam"]
    assert not _debug_get_cache_entry_list(functional.adam.__code__)
    assert not _debug_get_cache_entry_list(functional._single_tensor_adam.__code__)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        s.step([np.ones(6, f32)])
    s.close()
    names = {e.name for e in prof.events()}
    assert any(n.startswith("Torch-Compiled Region") for n in names), names
    eager_math = {n for n in names if n.startswith("aten::") and any(
        op in n for op in ("lerp", "addcdiv", "addcmul", "sqrt", "mul_", "maximum", "add_"))}
    assert not eager_math, eager_math


def test_a_graph_break_in_the_step_is_an_error_not_a_silent_eager_fallback():
    """A step pre-hook that dynamo cannot trace splits opt.step: the adapter raises instead of
    judging a partly eager step."""
    adapter = load_adapter("torch.adamw.compiled")
    groups = [GroupSpec(Hyper(mode="adamw"), (np.ones(5, f64),))]
    s = adapter.open(groups, [None])
    handle = s.opt.register_step_pre_hook(lambda *a: torch.compiler.disable(lambda: None)())
    try:
        with pytest.raises(torch_compiled.CompiledStepError, match="did not compile the whole step"):
            s.step([np.ones(5, f64)])
    finally:
        handle.remove()
        s.close()
        torch_compiled._POOL.clear()
        torch._dynamo.reset()


def test_the_tensor_lr_path_does_not_recompile_for_a_new_learning_rate():
    """The LR-scheduler recipe's point: with lr a tensor, a new learning rate (written into it
    with fill_) reuses the compiled step. (A float lr is guarded by value until dynamo's automatic
    dynamic makes it a symbolic float after a first recompile, which depends on the history of
    the process, so only the tensor path is asserted.)"""
    from torch._dynamo.utils import counters

    st = ParamState(np.ones(7, f32), np.zeros(7, f32), np.zeros(7, f32), None, 2)
    adapter = load_adapter("torch.adamw.compiled-tensor-lr")
    graphs, thetas = [], []
    for lr in (1e-3, 2e-3, 3e-3):
        after = _run(adapter, [GroupSpec(Hyper(mode="adamw", lr=lr), (np.ones(7, f32),))], [st], [np.ones(7, f32)], 1)
        graphs.append(counters["stats"]["unique_graphs"])
        thetas.append(float(after[0].theta[0]))
    assert graphs[0] == graphs[-1]
    assert thetas[0] > thetas[1] > thetas[2]  # each example's own learning rate was used


def test_the_suite_catches_the_cache_defect_through_opt_step(monkeypatch, tmp_path):
    """With inductor's FX graph cache on (torch's default), the compiled opt.step of examples on
    one structure whose β₂ differ: after dynamo makes β₂ dynamic, the recompiled step comes from
    the cache with the second β₂ baked in, and the third example's v is judged outside the bound
    (SPEC AD-3). β₂ values no other test uses."""
    from adamspec.conformance.judge import judge_step

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(torch_compiled, "_FX_GRAPH_CACHE", True)
    adapter = load_adapter("torch.adamw.compiled")
    z, g = np.zeros(3, f32), np.ones(3, f32)
    torch._dynamo.reset()
    torch_compiled._POOL.clear()
    ok, v = [], []
    try:
        for b2 in (0.123, 0.789, 0.456):
            h, st = Hyper(mode="adamw", beta2=b2), ParamState(z.copy(), z.copy(), z.copy(), None, 1)
            after = _run(adapter, [GroupSpec(h, (z.copy(),))], [st], [g], 1)[0]
            ok.append(judge_step(st, g, h, after, adapter.capabilities).ok)
            v.append(float(after.v[0]))
    finally:
        torch._dynamo.reset()  # no entry compiled with the cache on survives this test
        torch_compiled._POOL.clear()
    assert ok == [True, True, False]
    assert np.isclose(v[2], 1 - 0.789)  # the second example's 1 − β₂
