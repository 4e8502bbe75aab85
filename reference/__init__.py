"""The spec in code: an exact mpmath reference for Adam, Adam+L2 and AdamW.

Knows nothing of torch or any other framework: inputs are numpy arrays of binary
floats, outputs exact mpf values (``State``) that callers round as they need.
"""

from adamspec.reference.exact import (
    DEFAULT_PRECISION,
    PrecisionError,
    State,
    checked_step,
    step,
    trajectory,
)
from adamspec.reference.floats import (
    BFLOAT16,
    BINARY16,
    BINARY32,
    BINARY64,
    FloatFormat,
    float_format,
    round_array,
    round_to,
    to_mpf,
    to_mpf_array,
    ulp,
)
from adamspec.reference.hyper import CANONICAL, KNOBS, Hyper, HyperparameterError, Knob, Mode, Variant

__all__ = [
    "BFLOAT16", "BINARY16", "BINARY32", "BINARY64", "CANONICAL", "DEFAULT_PRECISION",
    "FloatFormat", "Hyper", "HyperparameterError", "KNOBS", "Knob", "Mode", "PrecisionError", "Variant",
    "State", "checked_step", "float_format", "round_array", "round_to", "step", "to_mpf",
    "to_mpf_array", "trajectory", "ulp",
]
