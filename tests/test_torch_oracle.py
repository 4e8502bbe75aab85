"""The torch oracle (reference/fast_torch.py) computes fast.py's double-double step, bit for bit.

Two claims, each checked where it can fail: its values agree with the mpmath exact step (the
same tolerance and cases as tests/test_fast_oracle.py, whose checker is reused), and its
hi/lo pairs and fallback count are bitwise those of ``fast_step``, whatever the chunking. The
tests run on every device torch has here (CPU always, CUDA where there is one).
"""

import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from test_fast_oracle import _assert_agrees, cases  # noqa: E402  (the same checker and cases)

from adamspec.reference import (  # noqa: E402
    Hyper,
    Mode,
    Variant,
    fast_torch,  # noqa: E402
)
from adamspec.reference.fast import DD, FastState, fast_step  # noqa: E402
from adamspec.reference.fast_torch import _Namespace, fast_step_torch, iter_step  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _tensor(a, device="cpu"):
    """A numpy array (bfloat16 through ml_dtypes) as a torch tensor of the same format."""
    if a is None:
        return None
    a = np.asarray(a)
    if a.dtype == ml_dtypes.bfloat16:
        return torch.from_numpy(a.astype(np.float32)).to(device=device, dtype=torch.bfloat16)
    return torch.from_numpy(a.copy()).to(device)


def _numpy_state(s: FastState) -> FastState:
    def dd(x):
        return None if x is None else DD(x.hi.cpu().numpy(), x.lo.cpu().numpy())

    return FastState(dd(s.theta), dd(s.m), dd(s.v), dd(s.vmax), s.t, s.fallback)


def _torch_oracle(device="cpu", chunk=None):
    """fast_step's signature on numpy arrays, computed by the torch oracle from tensors."""
    def oracle(theta, g, m, v, t_prev, h, p, vmax=None):
        args = [_tensor(a, device) for a in (theta, g, m, v)]
        out = fast_step_torch(*args, t_prev, h, p, vmax=_tensor(vmax, device), chunk=chunk)
        assert out.theta.hi.device.type == device  # computed where the tensors are
        return _numpy_state(out)
    return oracle


def _bits(a):
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


def _assert_same_bits(got: FastState, want: FastState):
    """Bitwise identity is the claim here (NaN payloads and signed zeros included)."""
    assert got.t == want.t and got.fallback == want.fallback
    for name in ("theta", "m", "v", "vmax"):
        a, b = getattr(got, name), getattr(want, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.hi.shape == b.hi.shape, name
            for part in ("hi", "lo"):
                x, y = _bits(getattr(a, part)), _bits(getattr(b, part))
                bad = np.flatnonzero(x.reshape(-1) != y.reshape(-1))
                assert bad.size == 0, (name, part, bad[:5], getattr(a, part).reshape(-1)[bad[:3]],
                                       getattr(b, part).reshape(-1)[bad[:3]])


@pytest.mark.parametrize("device", DEVICES)
@given(case=cases())
def test_torch_oracle_agrees_with_exact_reference(device, case):
    """All three modes, AMSGrad, maximize, every variant knob, the four storage formats."""
    _assert_agrees(*case, oracle=_torch_oracle(device))


@pytest.mark.parametrize("device", DEVICES)
@given(case=cases(), chunk=st.one_of(st.none(), st.integers(1, 5)))
def test_torch_oracle_is_fast_step_bit_for_bit(device, case, chunk):
    theta, g, m, v, vmax, t_prev, h, p = case
    _assert_same_bits(_torch_oracle(device, chunk)(theta, g, m, v, t_prev, h, p, vmax=vmax),
                      fast_step(theta, g, m, v, t_prev, h, p, vmax=vmax))


def _large_case(n, seed, dtype=np.float32):
    """Random state over many magnitudes with non-finite and out-of-range elements spread out."""
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(n).astype(dtype)
    g = (rng.standard_normal(n) * 10.0 ** rng.integers(-8, 4, n)).astype(dtype)
    m = (rng.standard_normal(n) * 1e-2).astype(dtype)
    v = (rng.random(n) * 1e-3).astype(dtype)
    bad = rng.choice(n, 6, replace=False)
    g[bad[:3]] = [np.nan, np.inf, -np.inf]
    if np.dtype(dtype) == np.float64:
        g[bad[3:]] = [1e200, 1e-280, -1e300]  # beyond double-double's trusted range: mpmath
    return theta, g, m, v


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chunks_that_do_not_divide_the_length_change_nothing(device, dtype):
    """The same bits for every chunk size, fallback elements in several chunks included."""
    n = 1000
    theta, g, m, v = _large_case(n, 3, dtype)
    h = Hyper(lr=1e-3, weight_decay=1e-2, mode="adam_l2", amsgrad=True)
    want = fast_step(theta, g, m, v, 999, h, vmax=v * 2)
    assert want.fallback >= 3  # the case does reach the fallback, in more than one chunk
    for chunk in (None, 1, 7, 333, 999, 4096):
        got = _torch_oracle(device, chunk)(theta, g, m, v, 999, h, Variant(), vmax=v * 2)
        _assert_same_bits(got, want)


def test_iter_step_covers_the_elements_once_in_order():
    n, chunk = 1000, 333
    theta, g, m, v = _large_case(n, 4)
    h = Hyper(lr=1e-2, weight_decay=0.1)
    chunks = list(iter_step(*(_tensor(a) for a in (theta, g, m, v)), 7, h, chunk=chunk))
    assert [(c.start, c.stop) for c in chunks] == [(0, 333), (333, 666), (666, 999), (999, 1000)]
    assert sum(c.fallback for c in chunks) == fast_step(theta, g, m, v, 7, h).fallback == 3
    whole = fast_step_torch(*(_tensor(a) for a in (theta, g, m, v)), 7, h)
    for c in chunks:
        for name in ("theta", "m", "v"):
            for part in ("hi", "lo"):
                x = getattr(getattr(c, name), part).numpy()
                y = getattr(getattr(whole, name), part).numpy()[c.start:c.stop]
                assert np.array_equal(_bits(x), _bits(y))
        assert c.vmax is None


@pytest.mark.parametrize("device", DEVICES)
def test_fallback_rule_non_finite_and_extreme_elements(device):
    """Elements double-double cannot vouch for go to mpmath, counted, as in fast.py."""
    theta = np.array([1.0, 2.0, 0.5, 1.0, 1.0, 3.0, -1.0])
    g = np.array([1e200, 1e-200, 1e150, np.nan, np.inf, 0.0, 0.25])
    m = np.array([0.1, 0.0, 0.0, 0.0, 0.0, 0.5, 0.1])
    v = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1])
    h = Hyper(lr=0.1, eps=0.0, weight_decay=0.1)
    for p in (Variant(), Variant(eps_placement="inside", decay_order="after")):
        got = _assert_agrees(theta, g, m, v, None, 4, h, p, oracle=_torch_oracle(device, chunk=3))
        assert got.fallback == 6  # all but the last; element 5 divides 0.5/0 (θ_t = −inf)
        _assert_same_bits(got, fast_step(theta, g, m, v, 4, h, p))
    assert np.isinf(got.v.hi[0]) and np.isneginf(got.theta.hi[5]) and np.isnan(got.theta.hi[3])


def test_a_variant_without_double_double_code_goes_whole_to_the_exact_reference():
    """eps_placement = root is not in fast.py's HANDLED: every element exact, all counted."""
    theta, g, m, v = _large_case(12, 5)
    h = Hyper(lr=1e-2, weight_decay=1e-2, mode="adamw")
    p = Variant(eps_placement="root", eps_root=1e-8)
    got = _assert_agrees(theta, g, m, v, None, 3, h, p, oracle=_torch_oracle(chunk=5))
    assert got.fallback == 12
    _assert_same_bits(got, fast_step(theta, g, m, v, 3, h, p))


@pytest.mark.parametrize("device", DEVICES)
def test_reduced_precision_tensors_and_numpy_inputs(device):
    """bfloat16 and float16 tensors widen exactly; numpy arrays (bfloat16 too) are accepted."""
    rng = np.random.default_rng(6)
    h = Hyper(lr=1e-3, weight_decay=1e-2, mode="adamw", amsgrad=True)
    for dtype in (ml_dtypes.bfloat16, np.float16):
        theta, g, m, v = (rng.standard_normal(50).astype(dtype) for _ in range(4))
        v = abs(v)
        want = fast_step(theta, g, m, v, 10, h, vmax=v)
        _assert_same_bits(_torch_oracle(device, 16)(theta, g, m, v, 10, h, Variant(), vmax=v), want)
        got = fast_step_torch(theta, g, m, v, 10, h, vmax=v, device=device, chunk=16)
        _assert_same_bits(_numpy_state(got), want)


def test_sqrt_rounds_to_nearest():
    """The namespace's sqrt is numpy's (correctly rounded), also next to midpoints."""
    rng = np.random.default_rng(8)
    s = 1 + rng.random(1 << 14)
    x = np.concatenate([rng.random(1 << 15) * 10.0 ** rng.integers(-250, 250, 1 << 15),
                        np.nextafter(s * s, 0), np.nextafter(s * s, 4), s * s, [0.0, 1.0, 2.0**-898]])
    for device in DEVICES:
        got = _Namespace(torch).sqrt(torch.from_numpy(x).to(device)).cpu().numpy()
        assert np.array_equal(_bits(got), _bits(np.sqrt(x)))


def test_no_gradient_and_bad_arguments():
    theta = torch.tensor([[1.0, 2.0]], dtype=torch.float32)
    out = fast_step_torch(theta, None, None, None, 0, Hyper(amsgrad=True))
    assert out.t == 0 and out.fallback == 0 and out.m.hi.shape == (1, 2)
    assert torch.equal(out.theta.hi, theta.double()) and not out.theta.lo.any() and not out.vmax.hi.any()
    with pytest.raises(ValueError, match="shape"):
        fast_step_torch(torch.ones(2), torch.ones(3), None, None, 0, Hyper())
    with pytest.raises(ValueError, match="non-negative"):
        fast_step_torch(torch.ones(2), torch.ones(2), None, None, -1, Hyper())
    with pytest.raises(ValueError, match="unsupported dtype"):
        fast_step_torch(torch.ones(2, dtype=torch.int64), torch.ones(2), None, None, 0, Hyper())
    with pytest.raises(ValueError, match="chunk"):
        list(iter_step(torch.ones(2), torch.ones(2), None, None, 0, Hyper(), chunk=-1))


def test_importing_the_reference_never_imports_torch():
    code = ("import sys, adamspec.reference, adamspec.reference.fast, adamspec.reference.fast_torch; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_judge_takes_the_torch_oracle_for_a_large_step_with_the_same_verdict(monkeypatch):
    """judge.oracle_step hands a step of LARGE_STEP elements or more to the torch oracle on the
    device (CUDA where there is one; forced to the CPU here): the judgement is bit for bit the
    numpy oracle's."""
    from adamspec.adapters.base import ParamState
    from adamspec.adapters.numpy_impl import NumpyAdapter
    from adamspec.conformance import judge

    rng = np.random.default_rng(3)
    n = 4096
    th, g, m = (rng.standard_normal(n) for _ in range(3))
    v = rng.random(n)
    h = Hyper(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, mode=Mode.ADAMW)
    before = ParamState(th, m, v, None, 7)
    after = ParamState(th * (1 - 1e-4) - 1e-3 * np.sign(g), m, v, None, 8)  # wrong: some fail
    caps = NumpyAdapter("adamw").capabilities
    numpy_j = judge.judge_step(before, g, h, after, caps)
    monkeypatch.setattr(judge, "LARGE_STEP", n)
    monkeypatch.setattr(judge, "ORACLE_DEVICE", "cpu")
    calls = []
    real = fast_torch.fast_step_torch
    monkeypatch.setattr(fast_torch, "fast_step_torch", lambda *a, **k: calls.append(k["device"]) or real(*a, **k))
    torch_j = judge.judge_step(before, g, h, after, caps)
    assert calls == ["cpu"]
    for name in ("theta", "m", "v"):
        assert np.array_equal(numpy_j.exact_dd[name].hi, torch_j.exact_dd[name].hi)
        assert np.array_equal(numpy_j.exact_dd[name].lo, torch_j.exact_dd[name].lo)
        assert np.array_equal(numpy_j.outputs[name].ok, torch_j.outputs[name].ok)
    assert not numpy_j.ok
