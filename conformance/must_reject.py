"""Hyperparameters a conforming implementation must reject at construction (SPEC VAL-1…VAL-4).

Data, not code: each row is the keyword arguments given, the clause, and the words of
which a clear error message names at least one (the hyperparameter or its value).
"""

import math

MUST_REJECT = (
    # (clause, kwargs, words a clear message contains at least one of)
    ("VAL-1", {"lr": -1e-3}, ("lr", "learning rate", "-0.001")),
    ("VAL-1", {"lr": math.nan}, ("lr", "learning rate", "nan")),
    ("VAL-1", {"lr": math.inf}, ("lr", "learning rate", "inf")),
    ("VAL-2", {"eps": -1e-8}, ("eps", "epsilon", "-1e-08")),
    ("VAL-2", {"eps": math.nan}, ("eps", "epsilon", "nan")),
    ("VAL-2", {"eps": math.inf}, ("eps", "epsilon", "inf")),
    ("VAL-3", {"betas": (1.0, 0.999)}, ("beta",)),
    ("VAL-3", {"betas": (0.9, 1.0)}, ("beta",)),
    ("VAL-3", {"betas": (-0.1, 0.999)}, ("beta",)),
    ("VAL-3", {"betas": (0.9, 1.5)}, ("beta",)),
    ("VAL-3", {"betas": (math.nan, 0.999)}, ("beta",)),
    ("VAL-3", {"betas": (0.9, math.inf)}, ("beta",)),
    ("VAL-4", {"weight_decay": -0.01}, ("weight_decay", "weight decay", "-0.01")),
    ("VAL-4", {"weight_decay": math.nan}, ("weight_decay", "weight decay", "nan")),
    ("VAL-4", {"weight_decay": math.inf}, ("weight_decay", "weight decay", "inf")),
)
