"""Every property is seen failing on a deliberately wrong implementation.

Most are killed by the mutant zoo (tests/test_zoo.py); the three no zoo member reaches —
modes_coincide (zoo adapters claim one mode), determinism and sign_symmetry — are shown here
on small wrong numpy implementations.
"""

import numpy as np
import pytest
from broken_adapters import _Broken

from adamspec.adapters.numpy_impl import NumpyAdapter, NumpySession
from adamspec.conformance.registry import load
from adamspec.conformance.runner import run_property

PROPERTIES = load()


class _L2TermAtZeroDecay(NumpySession):
    """adam_l2 adds its (zero-weight) term as 1e-3·θ anyway: the modes no longer coincide at λ = 0."""

    def step(self, grads):
        for i, (g, h) in enumerate(zip(grads, self.hypers)):
            if g is not None and h.mode.value == "adam_l2":
                grads = list(grads)
                grads[i] = (np.asarray(g, np.float64) + 1e-3 * self.items[i].theta).astype(self.items[i].theta.dtype)
        super().step(grads)


class _Noisy(NumpySession):
    """Adds a random ±1-ulp perturbation: identical inputs no longer give identical bits."""

    def read(self):
        out = super().read()
        rng = np.random.default_rng()
        for st in out:
            if st.theta.size:
                flip = rng.choice([-1, 1], st.theta.shape)
                st.theta[...] = np.nextafter(st.theta, st.theta + flip * np.inf)
        return out


class _Biased(NumpySession):
    """Rounds every update towards −∞ by a relative 1e-3: negating the inputs does not negate the step."""

    def step(self, grads):
        before = [it.theta.copy() for it in self.items]
        super().step(grads)
        for it, b, g in zip(self.items, before, grads):
            if g is not None:
                delta = it.theta.astype(np.float64) - b
                it.theta[...] = (b + delta - 1e-3 * np.abs(delta)).astype(it.theta.dtype)


@pytest.mark.parametrize("prop,family,session", [
    ("modes_coincide", "adam", _L2TermAtZeroDecay),
    ("determinism", "adamw", _Noisy),
    ("sign_symmetry", "adam", _Biased),
])
def test_property_fails_on_a_wrong_implementation(prop, family, session):
    v = run_property(PROPERTIES[prop], _Broken(session, prop, family), "ci")
    assert v.verdict == "fail", (v.verdict, v.reason)


@pytest.mark.parametrize("prop", ["modes_coincide", "determinism", "sign_symmetry"])
def test_the_same_property_passes_on_the_correct_implementation(prop):
    family = "adamw" if prop == "determinism" else "adam"
    assert run_property(PROPERTIES[prop], NumpyAdapter(family), "ci").verdict == "pass"
