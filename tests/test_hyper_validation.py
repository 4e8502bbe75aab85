"""The reference's own hyperparameter validation (SPEC VAL-*), as a table of must-reject inputs."""

import math

import pytest

from adamspec.reference import Hyper, HyperparameterError

MUST_REJECT = [
    (dict(lr=-1e-3), "lr"),
    (dict(lr=math.nan), "lr"),
    (dict(lr=math.inf), "lr"),
    (dict(eps=-1e-8), "eps"),
    (dict(eps=math.inf), "eps"),
    (dict(beta1=1.0), "beta1"),
    (dict(beta1=-0.1), "beta1"),
    (dict(beta2=1.5), "beta2"),
    (dict(beta2=math.nan), "beta2"),
    (dict(weight_decay=-0.01), "weight_decay"),
    (dict(weight_decay=math.nan), "weight_decay"),
    (dict(weight_decay=0.1, mode="adam"), "adam_l2"),
    (dict(lr="fast"), "lr"),
]


@pytest.mark.parametrize("kwargs,names", MUST_REJECT, ids=lambda x: str(x))
def test_bad_hyperparameters_are_rejected_with_their_name(kwargs, names):
    with pytest.raises(HyperparameterError, match=names):
        Hyper(**kwargs)


def test_edges_of_the_valid_range_are_accepted():
    Hyper(lr=0.0, beta1=0.0, beta2=0.0, eps=0.0, weight_decay=0.0)
    Hyper(beta1=math.nextafter(1.0, 0.0), beta2=math.nextafter(1.0, 0.0))


def test_held_in_float32_rounds_each_hyperparameter():
    import numpy as np

    h = Hyper(lr=0.1, weight_decay=0.01).held_in(np.float32)
    assert h.lr == float(np.float32(0.1)) and h.lr != 0.1
    assert h.beta2 == float(np.float32(0.999))
