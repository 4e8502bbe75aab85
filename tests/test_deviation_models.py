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
CAPS16 = replace(NumpyAdapter("adam").capabilities, dtypes=frozenset({"float16"}), compute={"float16": "float16"})


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


def test_nan_at_lr_zero_fits_nan_only_where_the_new_v_is_zero():
    before = ParamState(np.array([1.0, 2.0]), np.array([0.5, 0.5]), np.array([1.0, 0.5]), None, 1)
    h = _hyper(lr=0.0, beta1=0.5, beta2=0.0)
    m_t, v_t = np.array([0.25, 0.75]), np.array([0.0, 1.0])  # g = [0, 1], β = (0.5, 0): m_t ≠ 0 at the NaN
    good = dm.Step(before, np.array([0.0, 1.0]), h, ParamState(np.array([np.nan, 2.0]), m_t, v_t, None, 2), 2)
    assert dm.nan_at_lr_zero(good, CAPS)
    nan_elsewhere = replace(good, after=replace(good.after, theta=np.array([1.0, np.nan])))
    moved = replace(good, after=replace(good.after, theta=np.array([np.nan, 2.5])))
    no_nan = replace(good, after=replace(good.after, theta=np.array([1.0, 2.0])))
    at_lr = replace(good, hyper=_hyper(lr=1e-3, beta1=0.0, beta2=0.0))
    assert not any(dm.nan_at_lr_zero(s, CAPS) for s in (nan_elsewhere, moved, no_nan, at_lr))


def test_dropped_gradient_fits_what_compiled_torch_stored():
    """The numbers torch 2.13's compiled for-loop AdamW stored for a 0-d float64 parameter with
    θ = 1, m = 0.5, v = 0.25, t = 3, g = 2, β = (0.3, 0.5), ε = 0.1, α = 1e-4 (eager: θ =
    0.9999026712282308, m = 1.55, v = 2.125)."""
    h = _hyper(lr=1e-4, beta1=0.3, beta2=0.5, eps=0.1)
    caps = replace(CAPS, scalars="float32")  # as the compiled adapters declare (β^t from a float32 step)
    after = ParamState(np.float64(0.9998916296199566), np.float64(0.5), np.float64(0.125), None, 4)
    assert dm.dropped_gradient(_step(after, h), caps)
    right = _exact(1.0, 2.0, 0.5, 0.25, 3, h)
    assert not dm.dropped_gradient(_step(ParamState(right["theta"], right["m"], right["v"], None, 4), h), caps)
    # eager's θ beside the dropped moments: the θ is not the one those moments give
    assert not dm.dropped_gradient(_step(replace(after, theta=right["theta"]), h), caps)
    assert not dm.dropped_gradient(_step(replace(after, v=np.float64(0.25)), h), caps)


def test_dropped_gradient_fits_the_nan_of_0_over_0_at_eps_0():
    """Found by scale_invariance at `default` on torch.adamw.compiled: fresh 0-d float64, g = −1,
    β = (0, 0), ε = 0: the dropped moments stay 0, and θ from them is 0/0 = NaN (plain torch stores
    exactly that). The model once compared |NaN − NaN| ≤ tol, which is false, and did not fit."""
    h = _hyper(lr=1e-4, beta1=0.0, beta2=0.0, eps=0.0)
    fresh = ParamState(np.float64(0.0))
    stored = ParamState(np.float64(np.nan), np.float64(0.0), np.float64(0.0), None, 1)
    assert dm.dropped_gradient(dm.Step(fresh, np.float64(-1.0), h, stored, 1), CAPS)
    # θ kept at 0 is not what those moments give
    assert not dm.dropped_gradient(dm.Step(fresh, np.float64(-1.0), h, replace(stored, theta=np.float64(0.0)), 1),
                                   CAPS)


def test_nan_at_lr_zero_lets_a_zero_change_sign_as_eager_code_does():
    """Found by lr_zero at `default` on torch.adamw.compiled: θ = [0, −0, 0], g = [0, −1, 0] in
    float16, lr = 0: NaN where v_t = 0, and −0 − 0·u = +0 beside them."""
    h = _hyper(lr=0.0, beta1=0.0, beta2=0.0)
    before = ParamState(np.array([0.0, -0.0, 0.0], np.float16))
    after = ParamState(np.array([np.nan, 0.0, np.nan], np.float16), np.array([0.0, -1.0, 0.0], np.float16),
                       np.array([0.0, 1.0, 0.0], np.float16), None, 1)
    assert dm.nan_at_lr_zero(dm.Step(before, np.array([0.0, -1.0, 0.0], np.float16), h, after, 1), CAPS)
    moved = replace(after, theta=np.array([np.nan, 1e-3, np.nan], np.float16))
    assert not dm.nan_at_lr_zero(dm.Step(before, np.array([0.0, -1.0, 0.0], np.float16), h, moved, 1), CAPS)


def test_decay_evaluated_at_zero_fits_nan_where_theta_is_not_finite_and_the_step_elsewhere():
    h = _hyper(mode=Mode.ADAM_L2, weight_decay=0.0)
    theta = np.array([np.inf, 1.0])
    before = ParamState(theta, np.array([0.5, 0.5]), np.array([0.25, 0.25]), None, 3)
    right = _exact(1.0, 2.0, 0.5, 0.25, 3, h)
    nan = np.float64(np.nan)
    after = ParamState(np.array([nan, right["theta"]]), np.array([nan, right["m"]]), np.array([nan, right["v"]]),
                       None, 4)
    step = dm.Step(before, np.array([2.0, 2.0]), h, after, 4)
    assert dm.decay_evaluated_at_zero(step, CAPS)
    # a finite element off the step, or the decay's NaN at λ > 0, or m finite but θ not: no fit
    wrong = replace(after, m=np.array([nan, right["m"] * 1.01]))
    assert not dm.decay_evaluated_at_zero(replace(step, after=wrong), CAPS)
    assert not dm.decay_evaluated_at_zero(replace(step, hyper=replace(h, weight_decay=0.01)), CAPS)
    assert not dm.decay_evaluated_at_zero(replace(step, after=replace(after, theta=np.array([1.0, right["theta"]]))),
                                          CAPS)


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


# -- the layout models against torch's fused CPU kernel itself -----------------------------------

def _fused_steps(layout, mode, injected, steps=2):
    """Steps of torch's fused CPU Adam/AdamW on a 3×4 θ in ``layout``, laid out as the torch
    adapters lay it out (adapters/torch_optim._laid_out), read back by index."""
    torch = pytest.importorskip("torch")
    from adamspec.adapters.torch_optim import _laid_out

    rng = np.random.default_rng(7)
    theta = rng.standard_normal((3, 4)).astype(np.float32)
    p = torch.nn.Parameter(_laid_out(torch, theta, layout))
    cls = torch.optim.AdamW if mode is Mode.ADAMW else torch.optim.Adam
    h = _hyper(lr=1e-2, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.1, mode=mode)
    opt = cls([p], lr=h.lr, betas=(h.beta1, h.beta2), eps=h.eps, weight_decay=h.weight_decay, fused=True)
    before = ParamState(theta.copy())
    if injected:
        m, v = rng.standard_normal((3, 4)).astype(np.float32), rng.random((3, 4)).astype(np.float32)
        opt.state[p] = {"step": torch.tensor(5.0), "exp_avg": torch.from_numpy(m.copy()),
                        "exp_avg_sq": torch.from_numpy(v.copy())}
        before = ParamState(theta.copy(), m, v, None, 5)
    out = []
    for k in range(steps):
        g = rng.standard_normal((3, 4)).astype(np.float32)
        p.grad = torch.from_numpy(g.copy())
        opt.step()
        st = opt.state[p]
        after = ParamState(p.detach().numpy().copy(), st["exp_avg"].numpy().copy(),
                           st["exp_avg_sq"].numpy().copy(), None, int(st["step"].item()))
        t = (before.step or 0) + 1
        out.append(dm.Step(before, g, h, after, t, layout, k, not injected))
        before = after
    return out


@pytest.mark.parametrize("layout, model, other", [("transposed", dm.memory_order, dm.dense_run),
                                                  ("strided", dm.dense_run, dm.memory_order)])
@pytest.mark.parametrize("mode", [Mode.ADAMW, Mode.ADAM_L2])
@pytest.mark.parametrize("injected", [False, True])
def test_each_layout_model_fits_torch_fused_on_its_layout(layout, model, other, mode, injected):
    caps = replace(CAPS, compute={"float32": "float32"}, dtypes=frozenset({"float32"}))
    steps = _fused_steps(layout, mode, injected)
    assert all(model(s, caps) for s in steps)
    assert not any(other(s, caps) for s in steps)
    # the same numbers judged as an ordinary step do not conform: the model is what excuses them
    assert not all(dm.judge_step(s.before, s.grad, s.hyper, s.after, caps).ok for s in steps)
    # a second defect on the same parameter (θ nudged by 10 bounds at one shown element) is not it
    s = steps[0]
    theta = np.array(s.after.theta, copy=True)
    theta.reshape(-1)[0] += 1e-3
    assert not model(replace(s, after=replace(s.after, theta=theta)), caps)


def test_overflowed_step_size_fits_the_float16_overflow_and_its_trigger_says_where_it_shows():
    from adamspec.conformance.cases import Case, GroupCase, ParamCase

    h = _hyper(lr=0.1, beta1=0.999999, beta2=0.0, eps=1e-8, mode=Mode.ADAM)
    before = ParamState(np.array([0.0, 0.5], np.float16))
    g = np.array([-1.0, 0.0], np.float16)
    m_t = np.array([-1e-6, 0.0], np.float16)  # (1 − β₁)·g, as float16 holds it
    v_t = np.array([1.0, 0.0], np.float16)
    after = ParamState(np.array([np.inf, np.nan], np.float16), m_t, v_t, None, 1)
    assert dm.overflowed_step_size(dm.Step(before, g, h, after, 1), CAPS16)
    # a finite θ where the step size overflowed, a wrong m, or a step size that does not overflow: no fit
    assert not dm.overflowed_step_size(dm.Step(before, g, h, replace(after, theta=np.array([0.1, np.nan],
                                                                                          np.float16)), 1), CAPS16)
    assert not dm.overflowed_step_size(dm.Step(before, g, h, replace(after, m=np.array([-2e-6, 0.0], np.float16)),
                                               1), CAPS16)
    assert not dm.overflowed_step_size(dm.Step(before, g, replace(h, lr=1e-3), after, 1), CAPS16)
    case = Case((GroupCase(h, (ParamCase(before.theta),)),), ((g,),))
    assert dm.TRIGGERS["overflowed_step_size"](case, 0)
    assert not dm.TRIGGERS["overflowed_step_size"](Case((GroupCase(replace(h, lr=1e-3), (ParamCase(before.theta),)),),
                                                        ((g,),)), 0)
    assert "overflowed_step_size" in next(iter(dev.input_kinds(case))).reaches
    assert not next(iter(dev.input_kinds(case, reaches=False))).reaches


def _restored_run(caps=CAPS, h=None, others_held=True):
    """Parameter 0 without state at the checkpoint (no gradient at step 1, resume after it), and
    the steps the DCP restore gives it: one step at lr = 0 on a zero gradient (count 1; zero
    moments under AdamW, those of the gradient λθ under coupled L2), then t = 2 from that state
    (exact, float64). The step is the fresh instance's (UNLIKE_DEFAULTS) when another parameter
    held state at the save, the saved instance's own (``h``) when none did."""
    from adamspec.adapters.base import UNLIKE_DEFAULTS
    from adamspec.conformance.cases import Case, GroupCase, ParamCase
    from adamspec.conformance.execute import Trace

    h = h or _hyper()
    held = ParamState(np.array([3.0]), np.array([0.5]), np.array([0.25]), None, 3)
    params = (ParamCase(np.array([1.0])),) + ((ParamCase(np.array([3.0]), "contiguous", held),) if others_held else ())
    grads = ((None,) + (np.array([1.0]),) * others_held, (np.array([2.0]),) + (np.array([1.0]),) * others_held)
    case = Case((GroupCase(h, params),), grads, resume_at=1)
    made = ParamState(np.array([1.0]), None, None, None, None)
    l2 = "adam_l2" in caps.modes
    if others_held:
        (b1, b2), lam = UNLIKE_DEFAULTS["betas"], UNLIKE_DEFAULTS["weight_decay"]
        made_with = Hyper(lr=0.0, beta1=b1, beta2=b2, eps=UNLIKE_DEFAULTS["eps"], weight_decay=lam,
                          mode=Mode.ADAM_L2 if l2 else Mode.ADAMW, maximize=not h.maximize)
    else:
        made_with = replace(h, lr=0.0)
    init = _exact(1.0, 0.0, 0.0, 0.0, 0, made_with)
    m0, v0 = init["m"], init["v"]
    restored = ParamState(np.array([1.0]), np.array([m0]), np.array([v0]), None, 1)
    out = _exact(1.0, 2.0, m0, v0, 1, h)  # from count 1 with the restored moments: t = 2
    after = ParamState(*(np.array([out[k]]) for k in ("theta", "m", "v")), None, 2)
    rest = [held] * others_held
    return case, Trace([[made, *rest], [made, *rest], [after, *rest]], None, None, [restored, *rest]), h


def test_restored_as_if_stepped_once_fits_the_t_2_step_of_a_stateless_parameter():
    from adamspec.conformance.registry import Violation

    case, trace, h = _restored_run()
    v = Violation("after step 2", case, 0, 1, clause="STATE-6")
    assert dm.fits("restored_as_if_stepped_once", v, [(case, trace)], CAPS, lambda k: True)
    assert dm.TRIGGERS["restored_as_if_stepped_once"](case, 0)
    # the step as it should be (t = 1) with only the count wrong is another bug
    right = _exact(1.0, 2.0, 0.0, 0.0, 0, h)
    wrong = ParamState(*(np.array([right[k]]) for k in ("theta", "m", "v")), None, 2)
    bad = replace(trace, snapshots=[trace.snapshots[0], trace.snapshots[1], [wrong]])
    assert not dm.fits("restored_as_if_stepped_once", v, [(case, bad)], CAPS, lambda k: True)
    # without what the restore left, nothing witnesses it
    assert not dm.fits("restored_as_if_stepped_once", v, [(case, replace(trace, restored=None))], CAPS,
                       lambda k: True)


def test_restored_as_if_stepped_once_under_coupled_l2_holds_the_moments_of_the_decay_gradient():
    """torch.optim.Adam's weight_decay is coupled L2: the restore's step at lr = 0 on a zero
    gradient is a step on λθ, so m and v are not zero; zero moments would be another bug."""
    from adamspec.conformance.registry import Violation

    caps = NumpyAdapter("adam").capabilities
    case, trace, h = _restored_run(caps, _hyper(mode=Mode.ADAM))
    # the fresh instance's β₁ and λ (UNLIKE_DEFAULTS)
    assert trace.restored[0].m[0] == pytest.approx((1 - 0.51) * 0.29, rel=2.0**-50)
    v = Violation("after step 2", case, 0, 1, clause="STATE-6")
    assert dm.fits("restored_as_if_stepped_once", v, [(case, trace)], caps, lambda k: True)
    zeros = replace(trace.restored[0], m=np.array([0.0]), v=np.array([0.0]))
    no_moments = replace(trace, restored=[zeros, *trace.restored[1:]])
    assert not dm.fits("restored_as_if_stepped_once", v, [(case, no_moments)], caps, lambda k: True)
    # the AdamW restore (zero moments) is not the L2 one
    case_w, trace_w, _ = _restored_run(CAPS, _hyper(mode=Mode.ADAM))
    assert not dm.fits("restored_as_if_stepped_once", Violation("x", case_w, 0, 1, clause="STATE-6"),
                       [(case_w, trace_w)], caps, lambda k: True)


def test_restored_as_if_stepped_once_from_a_checkpoint_without_state_is_the_saved_instances_step():
    """No parameter had state: saving stepped the saved instance itself at lr = 0, so the moments
    are its own λ's (0.2 here), not the fresh instance's."""
    from adamspec.conformance.registry import Violation

    caps = NumpyAdapter("adam").capabilities
    h = _hyper(mode=Mode.ADAM_L2, weight_decay=0.2)
    case, trace, _ = _restored_run(caps, h, others_held=False)
    assert trace.restored[0].m[0] == pytest.approx((1 - h.beta1) * 0.2, rel=2.0**-50)  # exact, rounded once
    v = Violation("after step 2", case, 0, 1, clause="STATE-6")
    assert dm.fits("restored_as_if_stepped_once", v, [(case, trace)], caps, lambda k: True)
    other, trace_o, _ = _restored_run(caps, h)  # the fresh instance's moments instead
    single = replace(trace, restored=trace_o.restored[:1],
                     snapshots=[trace.snapshots[0], trace.snapshots[1], trace_o.snapshots[2][:1]])
    assert not dm.fits("restored_as_if_stepped_once", v, [(case, single)], caps, lambda k: True)


def test_restored_as_if_stepped_once_needs_a_stateless_step_to_witness_it():
    """Conforming steps from held state fit the model, but alone they excuse nothing: a restore
    that perturbed a stored m by one ulp (within the bound, not bitwise) must stay a failure."""
    from adamspec.conformance.cases import Case, GroupCase, ParamCase
    from adamspec.conformance.execute import Trace
    from adamspec.conformance.registry import Violation

    h = _hyper()
    held = ParamState(np.array([1.0]), np.array([0.5]), np.array([0.25]), None, 3)
    out = _exact(1.0, 2.0, np.nextafter(0.5, 1.0), 0.25, 3, h)
    after = ParamState(*(np.array([out[k]]) for k in ("theta", "m", "v")), None, 4)
    case = Case((GroupCase(h, (ParamCase(np.array([1.0]), "contiguous", held),)),), ((np.array([2.0]),),),
                resume_at=None)
    v = Violation("x", case, 0, 4, clause="STATE-6")
    runs = [(case, Trace([[held], [after]], None, None))]
    step = dm.offending_steps(v, runs, lambda k: True)
    assert step and dm.restored_as_if_stepped_once(step[0], CAPS)  # within the bound
    assert not dm.fits("restored_as_if_stepped_once", v, runs, CAPS, lambda k: True)
    assert not dm.TRIGGERS["restored_as_if_stepped_once"](case, 0)


# --- the DeepSpeed ZeRO models (tests/fixtures/deepspeed_zero_repro.py shows each in plain DeepSpeed) ---

def _with_zero_gradient(before, h):
    """The spec's step with g = 0 from ``before``, stored in float64."""
    m, v, t = (0.0, 0.0, 0) if before.step is None else (float(before.m), float(before.v), before.step)
    e = _exact(float(before.theta), 0.0, m, v, t, h)
    return ParamState(e["theta"], e["m"], e["v"], None, t + 1)


def test_stepped_with_zero_gradient_fits_the_step_with_g_0_and_only_it():
    h = _hyper(weight_decay=0.5)
    after = _with_zero_gradient(BEFORE, h)
    assert dm.stepped_with_zero_gradient(dm.Step(BEFORE, None, h, after, 4), CAPS)
    assert not dm.stepped_with_zero_gradient(dm.Step(BEFORE, None, h, BEFORE, 4), CAPS)  # skipped: not it
    assert not dm.stepped_with_zero_gradient(dm.Step(BEFORE, None, h, replace(after, step=3), 4), CAPS)
    fresh = ParamState(np.float64(1.0))
    assert dm.stepped_with_zero_gradient(dm.Step(fresh, None, h, _with_zero_gradient(fresh, h), 1), CAPS)
    assert dm.WITNESSES["stepped_with_zero_gradient"](dm.Step(BEFORE, None, h, after, 4))
    assert "stepped_with_zero_gradient" in dm.WITHOUT_GRADIENT


def test_skipped_step_fits_nothing_moving_and_the_count_standing_still():
    assert dm.skipped_step(_step(BEFORE), CAPS)
    assert not dm.skipped_step(_step(replace(BEFORE, step=4)), CAPS)  # counted
    assert not dm.skipped_step(_step(replace(BEFORE, theta=np.nextafter(1.0, 2.0))), CAPS)  # θ moved
    fresh = ParamState(np.float64(1.0))
    assert dm.skipped_step(dm.Step(fresh, np.float64(np.nan), _hyper(), fresh, 1), CAPS)
    assert not dm.skipped_step(dm.Step(fresh, np.float64(np.nan), _hyper(),
                                       ParamState(np.float64(1.0), np.float64(0), np.float64(0), None, 1), 1), CAPS)
    witness = dm.WITNESSES["skipped_step"]
    assert witness(_step(BEFORE, grad=np.nan)) and not witness(_step(BEFORE, grad=2.0))


def test_left_out_when_empty_fits_only_an_empty_parameter_without_state():
    empty = ParamState(np.zeros(0))
    assert dm.left_out_when_empty(dm.Step(empty, np.zeros(0), _hyper(), empty, 1), CAPS)
    assert not dm.left_out_when_empty(dm.Step(empty, np.zeros(0), _hyper(),
                                              ParamState(np.zeros(0), np.zeros(0), np.zeros(0), None, 1), 1), CAPS)
    assert not dm.left_out_when_empty(_step(BEFORE), CAPS)  # a parameter with elements that did not step
