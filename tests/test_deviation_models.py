"""Each known-deviation model fits the behaviour it names and nothing else
(conformance/deviation_models.py): an entry with a model must not excuse a different failure on
the same inputs."""

from dataclasses import replace

import mpmath
import numpy as np
import pytest

from adamspec.adapters.base import ParamState
from adamspec.adapters.numpy_impl import NumpyAdapter
from adamspec.conformance import deviation_models as dm
from adamspec.conformance import deviations as dev
from adamspec.reference import exact
from adamspec.reference.hyper import Hyper, Mode

CAPS = NumpyAdapter("adamw").capabilities


def _hyper(**kw):
    return Hyper(**({"lr": 1e-3, "beta1": 0.3, "beta2": 0.5, "eps": 0.1, "weight_decay": 0.0,
                     "mode": Mode.ADAMW} | kw))


def _exact(theta, g, m, v, t_prev, h):
    st = exact.State(*(np.array([mpmath.mpf(x)], dtype=object) for x in (theta, m, v)), None, t_prev)
    out = exact.step(st, np.array([g]), h).as_float64()
    return {k: np.float64(out[k][0]) for k in ("theta", "m", "v")}


BEFORE = ParamState(np.float64(1.0), np.float64(0.5), np.float64(0.25), None, 3)


def _step(after, h=None, grad=2.0, before=BEFORE):
    return dm.Step(before, np.float64(grad), h or _hyper(), after, 4)


def test_lost_update_fits_a_bitwise_unchanged_step_that_counts():
    assert dm.lost_update(_step(ParamState(np.float64(1.0), np.float64(0.5), np.float64(0.25), None, 4)), CAPS)
    # fresh state: m and v come back as zeros
    fresh = ParamState(np.float64(1.0))
    assert dm.lost_update(_step(ParamState(np.float64(1.0), np.float64(0.0), np.float64(0.0), None, 1),
                                before=fresh), CAPS) is False  # t = 4 asked: the count must be 1
    assert dm.lost_update(dm.Step(fresh, np.float64(2.0), _hyper(),
                                  ParamState(np.float64(1.0), np.float64(0.0), np.float64(0.0), None, 1), 1), CAPS)


@pytest.mark.parametrize("after", [
    ParamState(np.float64(1.0), np.float64(0.5), np.float64(0.25), None, 3),  # the count stood still
    ParamState(np.nextafter(1.0, 2.0), np.float64(0.5), np.float64(0.25), None, 4),  # θ moved one ulp
    ParamState(np.float64(1.0), np.float64(0.5000001), np.float64(0.25), None, 4),  # m moved
    ParamState(np.float64(1.0), np.float64(0.5), None, None, 4),  # v not kept
])
def test_lost_update_rejects_anything_else(after):
    assert not dm.lost_update(_step(after), CAPS)


def test_nan_at_lr_zero_fits_nan_only_where_g_m_v_are_zero():
    fresh = ParamState(np.array([1.0, 2.0]))
    h = _hyper(lr=0.0)
    good = dm.Step(fresh, np.array([0.0, 1.0]), h, ParamState(np.array([np.nan, 2.0]), None, None, None, 1), 1)
    assert dm.nan_at_lr_zero(good, CAPS)
    nan_elsewhere = replace(good, after=ParamState(np.array([1.0, np.nan])))
    moved = replace(good, after=ParamState(np.array([np.nan, 2.5])))
    no_nan = replace(good, after=ParamState(np.array([1.5, 2.0])))
    at_lr = replace(good, hyper=_hyper(lr=1e-3))
    assert not any(dm.nan_at_lr_zero(s, CAPS) for s in (nan_elsewhere, moved, no_nan, at_lr))


def test_mirrored_lerp_fits_the_mirrored_m_and_the_theta_it_implies():
    h = _hyper()
    m_mirrored = 0.5 - 0.3 * (2.0 - 0.5)  # 0.05 (the canonical m is 1.55)
    right = _exact(1.0, 2.0, 0.5, 0.25, 3, h)
    # θ from the mirrored m, by the spec's step with m_t replaced: exact, with m chosen so that
    # β₁·m + (1 − β₁)·g is the mirrored value, rounded to binary64
    m_before = (mpmath.mpf(m_mirrored) - mpmath.mpf(0.7) * 2) / mpmath.mpf(0.3)
    th = _exact(1.0, 2.0, m_before, 0.25, 3, h)["theta"]
    after = ParamState(np.float64(th), np.float64(m_mirrored), right["v"], None, 4)
    assert dm.mirrored_lerp(_step(after, h), CAPS)
    # the right step, a wrong v, a wrong θ, and β₁ > ½ do not fit
    assert not dm.mirrored_lerp(_step(ParamState(right["theta"], right["m"], right["v"], None, 4), h), CAPS)
    assert not dm.mirrored_lerp(_step(replace(after, v=np.float64(0.3)), h), CAPS)
    assert not dm.mirrored_lerp(_step(replace(after, theta=np.float64(th + 1e-9)), h), CAPS)
    assert not dm.mirrored_lerp(_step(after, _hyper(beta1=0.7)), CAPS)


def test_an_unknown_model_is_rejected():
    with pytest.raises(ValueError, match="unknown model"):
        dev.parse('[[deviation]]\nclause = "AD-1"\nmodel = "lost"\nreason = "r"\n')


def test_a_model_entry_excuses_nothing_without_the_run():
    (d,) = dev.parse('[[deviation]]\nclause = "*"\nzero_dim = true\nmodel = "lost_update"\nreason = "r"\n')
    from adamspec.conformance.results import Counterexample

    cx = Counterexample("AD-1", "", "a", "m", {}, "float64", 1, zero_dim=True)
    assert d.covers("a", "p", cx) and dev.excusing([d], "a", "p", cx) is None
