"""The double-double oracle of reference/fast.py on torch float64 tensors, where they are.

Why it lives in ``reference``: it *is* the fast oracle, not a second one. Its per-element
arithmetic is fast.py's ``_step_slice`` given torch as its array namespace, its constants are
fast.py's ``_constants`` and its fallback is fast.py's ``fallback_pairs`` (the mpmath step of
``exact``), so it returns the same hi/lo bits and sends the same elements to mpmath, counted in
``fallback``; only where the arithmetic runs changes (CPU or CUDA), so that a 10⁹-parameter
step can be checked element by element on the GPU that holds it. The reference knows nothing
of torch otherwise: this module imports torch only inside its functions, so ``import
adamspec.reference`` (and importing this module) never needs it; torch is needed only when
``fast_step_torch`` or ``iter_step`` is called.

Memory stays bounded: the step runs over chunks of ``chunk`` elements (about 30 float64
temporaries each), inputs are widened to float64 one chunk at a time, and ``iter_step``
yields each chunk's results so that a caller can judge them and let them go.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from adamspec.reference.fast import (
    DD,
    HANDLED,
    FastState,
    _constants,
    _split,
    _step_slice,
    _two_prod,
    _two_sum,
    fallback_pairs,
)
from adamspec.reference.floats import float_format
from adamspec.reference.hyper import CANONICAL, Hyper, Variant, handles

# Elements per chunk by device type: on CPU, large enough that torch's per-operation overhead
# (~300 operations a chunk) is small against the work, small enough that the temporaries stay
# near the caches (one core here: 2^12 3.0, 2^14 4.2, 2^16 6.4, 2^17 7.1, 2^18 5.0 M element-steps/s);
# on CUDA, 2^24 elements keep ~4 GiB of temporaries and make launch overhead negligible.
DEFAULT_CHUNK = {"cpu": 1 << 17, "cuda": 1 << 24}


@dataclass(frozen=True, eq=False)
class Chunk:
    """The exact results for flat elements [start, stop): pairs of float64 tensors on the device."""

    start: int
    stop: int
    theta: DD
    m: DD
    v: DD
    vmax: DD | None  # None without AMSGrad (vmax, if given, is unchanged: see fast_step_torch)
    fallback: int  # elements of this chunk computed by the mpmath fallback


def _torch():
    import torch  # lazily: the module docstring says why

    return torch


class _Namespace:
    """What ``_step_slice`` asks of an array namespace, from torch, with a correctly rounded sqrt.

    torch 2.13's CPU float64 sqrt (its vectorised path) is faithful, not correctly rounded:
    measured here, 1.4% of random inputs come back one ulp off (0.51 ulp from √x), which moves
    the pair's low part. ``sqrt`` rounds torch's root s to nearest by the sign of x − μ² at the
    midpoints μ = s ± h on either side (h half the spacing there). A √ of a binary64 is never a
    midpoint: x − μ² is an odd multiple of the last bit of μ, squared, so |x − μ²| ≥ 2^-106·x and
    the sign is never 0. On CUDA, where the root is already correctly rounded, nothing changes.
    """

    def __init__(self, torch):
        self.torch, self.where, self.isfinite = torch, torch.where, torch.isfinite

    def sqrt(self, x):
        torch = self.torch
        s = torch.sqrt(x)
        sh, sl = _split(s)
        p, e = _two_prod(s, sh, sl, s, sh, sl)  # s² = p + e exactly (s within the trusted range)
        a = x - p  # exact (Sterbenz: s² ≈ x)
        up, down = torch.nextafter(s, s.new_tensor(np.inf)), torch.nextafter(s, s.new_tensor(0.0))
        return torch.where(self._beyond(a, e, s, (up - s) * 0.5) > 0.0, up,
                           torch.where(self._beyond(a, e, s, (down - s) * 0.5) < 0.0, down, s))

    @staticmethod
    def _beyond(a, e, s, h):
        """x − (s + h)² = (a − 2sh) − e − h², a value of its sign: a − 2sh exactly as a TwoSum
        pair (f, r), then f + ((r − e) − h²), whose two inner roundings err by ~2^-156·x, far
        below |x − (s + h)²|, so the last rounding keeps the exact sign (2sh and h² are exact)."""
        f, r = _two_sum(a, -(s * (2.0 * h)))
        return f + ((r - e) - h * h)


_TORCH_DTYPES = ("float64", "float32", "float16", "bfloat16")


class _Flat:
    """One input as a flat sequence whose chunks come widened to float64 on the device (exact)."""

    def __init__(self, torch, a, name: str, shape, device):
        self.torch, self.device = torch, device
        if isinstance(a, torch.Tensor):
            if str(a.dtype).removeprefix("torch.") not in _TORCH_DTYPES:
                raise ValueError(f"unsupported dtype {a.dtype} for {name}; supported: {list(_TORCH_DTYPES)}")
            self.shape = tuple(a.shape)
            self.flat, self.is_tensor = a.detach().reshape(-1), True
        else:
            a = np.asarray(a)
            self.bfloat16 = float_format(a.dtype).name == "bfloat16"  # the four binary formats only
            self.shape = a.shape
            self.flat, self.is_tensor = a.reshape(-1), False
        if shape is not None and self.shape != shape:
            raise ValueError(f"{name} has shape {self.shape}, theta has shape {shape}")

    def chunk(self, lo: int, hi: int):
        torch = self.torch
        x = self.flat[lo:hi]
        if not self.is_tensor:
            if self.bfloat16:  # ml_dtypes.bfloat16 has no torch twin: widen (exactly) first
                x = x.astype(np.float32)
            x = torch.from_numpy(np.ascontiguousarray(x))
        # .to() returns the tensor itself when nothing changes; the step never writes to its
        # inputs, and the fallback scatters out of place, so an alias is harmless.
        return x.to(device=self.device, dtype=torch.float64)


def _check_count(t_prev) -> int:
    if t_prev < 0 or int(t_prev) != t_prev:
        raise ValueError(f"step count must be a non-negative integer, got {t_prev!r}")
    return int(t_prev)


def _device(torch, theta, device):
    if device is not None:
        return torch.device(device)
    return theta.device if isinstance(theta, torch.Tensor) else torch.device("cpu")


def iter_step(theta, grad, m, v, t_prev: int, hyper: Hyper, variant: Variant = CANONICAL,
              vmax=None, chunk: int | None = None, device=None) -> Iterator[Chunk]:
    """``fast_step``'s values over the flattened elements, one ``Chunk`` at a time.

    Inputs are torch tensors (any device) or numpy arrays of the four binary formats;
    ``m``, ``v``, ``vmax`` may be None (zeros). The work runs on ``device`` (default: θ's),
    ``chunk`` elements at a time (default ``DEFAULT_CHUNK`` for the device type); each
    element's result does not depend on the chunking.
    """
    torch = _torch()
    t_prev = _check_count(t_prev)
    dev = _device(torch, theta, device)
    chunk = int(chunk or DEFAULT_CHUNK.get(dev.type, DEFAULT_CHUNK["cuda"]))
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of elements, got {chunk}")
    if grad is None:
        raise ValueError("iter_step needs a gradient; fast_step_torch handles an absent one")
    th = _Flat(torch, theta, "theta", None, dev)
    ins = [None if a is None else _Flat(torch, a, name, th.shape, dev)
           for a, name in ((grad, "grad"), (m, "m"), (v, "v"), (vmax, "vmax"))]
    t = t_prev + 1  # AD-1
    fast = handles(HANDLED, variant)  # else every element goes to the exact reference (fast.py's HANDLED)
    K = _constants(hyper, variant, t) if fast else None
    n = int(np.prod(th.shape, dtype=np.int64))
    n_out = 8 if hyper.amsgrad else 6
    xp = _Namespace(torch)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        x = [th.chunk(lo, hi)] + [None if a is None else a.chunk(lo, hi) for a in ins]
        th_c, g_c, m_c, v_c, vm_c = x
        zeros = torch.zeros(hi - lo, dtype=torch.float64, device=dev)
        m_c = zeros if m_c is None else m_c
        v_c = zeros if v_c is None else v_c
        if hyper.amsgrad and vm_c is None:
            vm_c = zeros
        if fast:
            res = _step_slice(th_c, g_c, m_c, v_c, vm_c if hyper.amsgrad else None, K, hyper, variant, xp)
            outs = [_as_tensor(torch, y, zeros) for pair in res[: n_out // 2] for y in pair]
            bad = torch.nonzero(~res[4]).reshape(-1)
        else:
            outs = [torch.empty_like(zeros) for _ in range(n_out)]
            bad = torch.arange(hi - lo, device=dev)
        if bad.numel():
            host = [None if y is None else y[bad].cpu().numpy() for y in (th_c, g_c, m_c, v_c, vm_c)]
            pairs = fallback_pairs(*host, t_prev, hyper, variant)
            for k, (p_hi, p_lo) in enumerate(pairs):
                for j, values in ((2 * k, p_hi), (2 * k + 1, p_lo)):
                    outs[j] = outs[j].index_put((bad,), torch.from_numpy(values).to(dev))
        dd = [DD(outs[i], outs[i + 1]) for i in range(0, n_out, 2)]
        if hyper.amsgrad:
            vmax_dd = dd[3]
        else:
            vmax_dd = None if vm_c is None else DD(vm_c, torch.zeros_like(vm_c))  # unchanged
        yield Chunk(lo, hi, dd[0], dd[1], dd[2], vmax_dd, int(bad.numel()))


def _as_tensor(torch, y, like):
    """A result as a tensor of the chunk's length (a pair's low part may be the scalar 0.0)."""
    if isinstance(y, torch.Tensor):
        return y
    return torch.full_like(like, float(y))


def fast_step_torch(theta, grad, m, v, t_prev: int, hyper: Hyper, variant: Variant = CANONICAL,
                    vmax=None, chunk: int | None = None, device=None) -> FastState:
    """``fast_step`` on torch: the same arguments (tensors or arrays) and the same hi/lo values,
    as float64 tensors of θ's shape on ``device`` (default θ's). ``grad=None`` is an absent
    gradient: the state comes back unchanged and t does not advance (NOGRAD-1/2)."""
    torch = _torch()
    t_prev = _check_count(t_prev)
    dev = _device(torch, theta, device)
    th = _Flat(torch, theta, "theta", None, dev)
    shape = th.shape
    n = int(np.prod(shape, dtype=np.int64))

    def whole(a, name):
        return _Flat(torch, a, name, shape, dev).chunk(0, n).clone()

    def as_dd(x):
        return DD(x.reshape(shape), torch.zeros(shape, dtype=torch.float64, device=dev))

    if grad is None:
        zeros = torch.zeros(n, dtype=torch.float64, device=dev)
        mm = zeros if m is None else whole(m, "m")
        vv = zeros if v is None else whole(v, "v")
        vm = whole(vmax, "vmax") if vmax is not None else (zeros if hyper.amsgrad else None)
        return FastState(as_dd(whole(theta, "theta")), as_dd(mm), as_dd(vv),
                         None if vm is None else as_dd(vm), t_prev, 0)
    outs = [torch.empty(n, dtype=torch.float64, device=dev) for _ in range(8 if hyper.amsgrad else 6)]
    vm_out = None if vmax is None or hyper.amsgrad else torch.empty(n, dtype=torch.float64, device=dev)
    fallback = 0
    for c in iter_step(theta, grad, m, v, t_prev, hyper, variant, vmax, chunk, dev):
        pairs = [c.theta, c.m, c.v] + ([c.vmax] if hyper.amsgrad else [])
        for k, dd in enumerate(pairs):
            outs[2 * k][c.start:c.stop] = dd.hi
            outs[2 * k + 1][c.start:c.stop] = dd.lo
        if vm_out is not None:
            vm_out[c.start:c.stop] = c.vmax.hi
        fallback += c.fallback

    def dd(i):
        return DD(outs[i].reshape(shape), outs[i + 1].reshape(shape))

    vmax_dd = dd(6) if hyper.amsgrad else (None if vm_out is None else as_dd(vm_out))
    return FastState(dd(0), dd(2), dd(4), vmax_dd, t_prev + 1, fallback)
