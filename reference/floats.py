"""Binary floating-point formats, read and rounded exactly.

Every binary float converts exactly into an mpf; rounding back is done here with
integer arithmetic (round to nearest, ties to even, gradual underflow, overflow to
±inf) so that neither double rounding nor a platform's libm can leak into the
reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import mpmath
import numpy as np


@dataclass(frozen=True)
class FloatFormat:
    name: str
    precision: int  # p: significand bits, the hidden bit included
    emin: int  # exponent of the smallest normal number
    emax: int  # exponent of the largest finite number
    dtype: np.dtype

    @property
    def unit_roundoff(self) -> float:
        """u = 2^-p: the relative error bound of one rounding to nearest."""
        return 2.0 ** -self.precision


BINARY64 = FloatFormat("float64", 53, -1022, 1023, np.dtype(np.float64))
BINARY32 = FloatFormat("float32", 24, -126, 127, np.dtype(np.float32))
BINARY16 = FloatFormat("float16", 11, -14, 15, np.dtype(np.float16))
BFLOAT16 = FloatFormat("bfloat16", 8, -126, 127, np.dtype(ml_dtypes.bfloat16))

FORMATS = {f.name: f for f in (BINARY64, BINARY32, BINARY16, BFLOAT16)}
# common spellings users type
_ALIASES = {"fp64": "float64", "double": "float64", "fp32": "float32", "float": "float32",
            "fp16": "float16", "half": "float16", "bf16": "bfloat16"}


def float_format(spec) -> FloatFormat:
    """Look a format up by name (``"bf16"``, ``"float32"``) or numpy dtype."""
    if isinstance(spec, FloatFormat):
        return spec
    if isinstance(spec, str):
        name = _ALIASES.get(spec.lower(), spec.lower())
        if name in FORMATS:
            return FORMATS[name]
        raise ValueError(f"unknown float format {spec!r}; known: {sorted(FORMATS)}")
    dtype = np.dtype(spec)
    for fmt in FORMATS.values():
        if fmt.dtype == dtype:
            return fmt
    raise ValueError(f"unsupported dtype {dtype}; supported: {sorted(FORMATS)}")


def to_mpf(x) -> mpmath.mpf:
    """The exact value of one binary float (any supported dtype, or a Python float)."""
    # Widening to binary64 is exact for every supported format; mpf(float) rounds to the
    # context precision, so it is built at 53 bits whatever precision the caller runs at.
    with mpmath.workprec(53):
        return mpmath.mpf(float(np.float64(x)))


def to_mpf_array(a) -> np.ndarray:
    """An object array of exact mpf values with the shape of ``a``."""
    a = np.asarray(a)
    float_format(a.dtype)  # rejects unsupported dtypes early
    wide = a.astype(np.float64)
    out = np.empty(a.shape, dtype=object)
    flat_in, flat_out = wide.reshape(-1), out.reshape(-1)
    with mpmath.workprec(53):  # exact for binary64 values, whatever the caller's precision
        for i in range(flat_in.size):
            flat_out[i] = mpmath.mpf(float(flat_in[i]))
    return out


def from_bits(bits, fmt) -> np.ndarray:
    """Reinterpret unsigned integer bit patterns as values of ``fmt`` (e.g. bfloat16)."""
    fmt = float_format(fmt)
    uint = {8: np.uint64, 4: np.uint32, 2: np.uint16}[fmt.dtype.itemsize]
    return np.asarray(bits, dtype=uint).view(fmt.dtype)


def to_bits(a) -> np.ndarray:
    a = np.asarray(a)
    uint = {8: np.uint64, 4: np.uint32, 2: np.uint16}[a.dtype.itemsize]
    return a.view(uint)


def _exponent(x: mpmath.mpf) -> int:
    """floor(log2 |x|) for finite nonzero x, exactly."""
    _sign, man, exp, bc = x._mpf_
    return exp + bc - 1


def quantum_exponent(x: mpmath.mpf, fmt: FloatFormat) -> int:
    """log2 of the spacing of ``fmt`` at |x| (subnormal spacing below the normal range)."""
    e = fmt.emin if x == 0 else max(_exponent(x), fmt.emin)
    return e - fmt.precision + 1


def ulp(x: mpmath.mpf, fmt) -> mpmath.mpf:
    """The spacing of ``fmt`` at |x|: the unit in which storage errors are reported."""
    fmt = float_format(fmt)
    if not mpmath.isfinite(x):
        return mpmath.inf
    return mpmath.ldexp(mpmath.mpf(1), quantum_exponent(x, fmt))


def round_to(x: mpmath.mpf, fmt) -> mpmath.mpf:
    """Round an exact value to ``fmt``: nearest, ties to even, subnormals, overflow to ±inf."""
    fmt = float_format(fmt)
    if not mpmath.isfinite(x) or x == 0:
        return x
    sign, man, exp, _bc = x._mpf_
    q = quantum_exponent(x, fmt)
    if exp < q:  # drop (q - exp) low bits of the integer significand
        shift = q - exp
        kept, rest = man >> shift, man & ((1 << shift) - 1)
        half = 1 << (shift - 1)
        if rest > half or (rest == half and kept & 1):
            kept += 1
        man, exp = kept, q
    value = mpmath.ldexp(mpmath.mpf(man), exp)
    if value >= mpmath.ldexp(mpmath.mpf(1), fmt.emax + 1):
        value = mpmath.inf
    return -value if sign else value


def round_array(a: np.ndarray, fmt) -> np.ndarray:
    """Round an object array of mpf to a numpy array of ``fmt`` (exactly, no double rounding)."""
    fmt = float_format(fmt)
    a = np.asarray(a, dtype=object)
    out = np.empty(a.shape, dtype=np.float64)
    flat_in, flat_out = a.reshape(-1), out.reshape(-1)
    for i in range(flat_in.size):
        flat_out[i] = float(round_to(flat_in[i], fmt))  # exact: fmt ⊂ binary64
    return out.astype(fmt.dtype)  # exact: each value is already in fmt
