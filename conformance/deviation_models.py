"""Models of known deviations: what an excused failure must look like, checked on the run itself.

An entry keyed only by its inputs (``clause = "*"`` with ``zero_dim`` and ``storage``) would
excuse any failure on such an input, so a second bug on the same inputs would hide behind the
first. An entry with a ``model`` excuses a failure only when the offending parameter's steps in
that example are exactly what the deviation does (say, "θ, m and v come back bitwise as they
were while the count advances"); anything else on the same inputs is reported as a new failure.

A model sees what the implementation stored: the (case, trace) pairs the example executed
(``execute.recording``), the violation's parameter and step, and the adapter's capabilities.
Where it cannot find the step it is asked about (a failure with no executed trace, a relation
between two runs that names no parameter) it does not fit: an entry with a model never
excuses on trust.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import mpmath
import numpy as np

from adamspec.adapters.base import UNLIKE_DEFAULTS, ParamState
from adamspec.conformance.judge import arithmetic_for, fresh, judge_step
from adamspec.conformance.results import InputKind
from adamspec.reference import steps
from adamspec.reference.bound import C
from adamspec.reference.floats import float_format
from adamspec.reference.hyper import Hyper, Mode


@dataclass(frozen=True)
class Step:
    """One step of one parameter as the implementation took it."""

    before: ParamState
    grad: np.ndarray
    hyper: Hyper
    after: ParamState
    t: int  # the step count it should store
    layout: str = "contiguous"  # the parameter's memory layout (cases.LAYOUTS)
    k: int = 0  # which step of the case (0: the first after the parameters were made)
    made_fresh: bool = True  # the case started it without state: the implementation made its m, v
    restored: ParamState | None = None  # the first step after a resume: what the restore left
    empty_checkpoint: bool = False  # ... and no parameter had state when the checkpoint was saved


def _state(st: ParamState, name: str, shape) -> np.ndarray:
    """m, v or vmax as held before a step: zeros for a fresh parameter (STATE-1)."""
    value = None if fresh(st) else getattr(st, name)
    return np.zeros(shape) if value is None else np.asarray(value, dtype=np.float64)


def offending_steps(v, runs, fits: Callable[[InputKind], bool], without_gradient: bool = False) -> list[Step] | None:
    """The steps a violation is about, or None when they cannot be found: the violation's
    parameter (every parameter meeting the entry's conditions when it names none) at its step
    (every step with a gradient when it names none; with ``without_gradient`` the steps that give
    it none too, their ``grad`` None), in the traces of its case (all of the example's when its
    case was not executed itself)."""
    mine = [(c, tr) for c, tr in runs if c is v.case] or list(runs)
    out = []
    for case, trace in mine:
        for i, p in enumerate(case.params):
            if v.param is not None and i != v.param:
                continue
            lr_zero = any(h.lr == 0.0 for k in range(len(case.grads)) for h in case.hypers_at(k))
            if not fits(InputKind(case.dtype, np.ndim(p.init) == 0, p.layout, lr_zero)):
                if v.param is not None:
                    return None  # the named parameter is not the entry's kind of input
                continue
            for k, grads in enumerate(case.grads):
                if (v.index is not None and k != v.index) or (grads[i] is None and not without_gradient):
                    continue
                before, after = trace.snapshots[k][i], trace.snapshots[k + 1][i]
                t = (0 if fresh(before) else int(before.step)) + 1
                resumed = trace.restored is not None and k == case.resume_at
                grad = None if grads[i] is None else np.asarray(grads[i])
                out.append(Step(before, grad, case.hypers_at(k)[i], after, t, p.layout, k,
                                p.state is None or p.state.step is None, trace.restored[i] if resumed else None,
                                resumed and all(map(fresh, trace.snapshots[k]))))
    return out or None


def _bitwise(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def lost_update(s: Step, caps) -> bool:
    """θ, m, v (and vmax) stored bitwise as they were before the step, while the count advances
    to t (torch's compiled for-loop step on a 0-d float64 parameter)."""
    th = np.asarray(s.before.theta)
    if s.after.step != s.t or not _bitwise(s.after.theta, th):
        return False
    for name in ("m", "v", "vmax"):
        got = getattr(s.after, name)
        if name == "vmax" and not s.hyper.amsgrad:
            continue
        want = _state(s.before, name, th.shape).astype(th.dtype)
        if got is None or not _bitwise(np.asarray(got, dtype=th.dtype), want):
            return False
    return True


def nan_at_lr_zero(s: Step, caps) -> bool:
    """A step at lr = 0 that stores θ = NaN only where the v_t it stores is 0, whatever m_t, and
    leaves every other element of θ as it was, up to the sign of a zero (θ − 0·u turns −0 into +0,
    eagerly too) (torch's compiled for-loop step: m_t = −0.5 with v_t = 0 gives NaN, v_t = 5e-41
    does not; eager code leaves θ unchanged)."""
    if s.hyper.lr != 0.0:
        return False
    th = np.asarray(s.before.theta, dtype=np.float64)
    got = np.asarray(s.after.theta, dtype=np.float64)
    if got.shape != th.shape:
        return False
    if s.after.v is None:
        return False
    silent = np.asarray(s.after.v, dtype=np.float64) == 0
    nan = np.isnan(got) & ~np.isnan(th)
    kept = (got == th) | (np.isnan(th) & np.isnan(got))  # ±0 compare equal
    return bool(nan.any()) and bool(np.all(silent[nan])) and bool(np.all(kept | nan))


# A model's predictions differ from the spec's step, so the step's own bound (whose scale is the
# spec's values) cannot judge them. Each prediction is a short chain of at most 8 roundings in
# the compute format and 8 in the scalars format (the derived scalars bc1, bc2, α, 1 − αλ, each
# held to a few units: reference/bound.py), applied to terms of magnitude at most ``scale``, and
# one rounding to storage: the tolerance is that first-order sum, with the spec's bound as a floor.
_ROUNDINGS = 16


def _tolerance(caps, storage: str, predicted, scale, spec_bound) -> float:
    fmt = float_format(storage)
    a = arithmetic_for(caps, storage)
    u = a.compute.unit_roundoff + a.scalars.unit_roundoff
    # the store: half an ulp is at most u·|x| for a normal x, half the smallest subnormal below
    store = fmt.unit_roundoff * abs(float(predicted)) + 2.0 ** (fmt.emin - fmt.precision)
    return max(float(spec_bound), _ROUNDINGS * u * float(scale) + store)


def _close(got: float, want, tol: float) -> bool:
    """``got`` within ``tol`` of the exact prediction, or of the same IEEE class where the
    prediction is not finite (0/0 from a stored m = v = 0 with ε = 0 predicts NaN)."""
    if mpmath.isnan(want):
        return bool(np.isnan(got))
    if mpmath.isinf(want):
        return float(got) == float(want)
    return bool(abs(got - want) <= tol)


def _from_stored_moments(s: Step, caps, m_of, v_of=None) -> bool:
    """The step with m_t = m_of(m, g, h) (and v_t = v_of(v, g, h) where given, vmax_t their
    maximum with vmax), v and vmax judged as usual where not given, the count right, and θ the
    spec's step from the *stored* m_t and v_t (or vmax_t). Exact (mpmath) predictions from the
    stored inputs, each within ``_tolerance``."""
    h = s.hyper
    if s.after.step != s.t:
        return False
    j = judge_step(s.before, s.grad, h, s.after, caps)
    if v_of is None and any(not bool(j.outputs[name].ok.all()) for name in ("v", "vmax") if name in j.outputs):
        return False
    th = np.asarray(s.before.theta, dtype=np.float64).reshape(-1)
    m0, v0, vmax0 = (_state(s.before, name, th.shape).reshape(-1) for name in ("m", "v", "vmax"))
    g = np.asarray(s.grad, dtype=np.float64).reshape(-1)
    got = {name: j.got[name].reshape(-1) for name in j.got}
    bound = {name: C * j.bounds[name].reshape(-1) for name in j.bounds}
    denom = got["vmax"] if h.amsgrad else got["v"]
    variant, mpf = caps.variant, mpmath.mpf
    storage = float_format(np.asarray(s.before.theta).dtype).name
    with mpmath.workprec(200):
        bc1, bc2 = steps.bias_corrections(s.t, h, variant)
        for i in range(th.size):
            ge = steps.effective_gradient(mpf(g[i]), mpf(th[i]), h)
            predicted = {"m": m_of(mpf(m0[i]), ge, h)}
            if v_of is not None:
                predicted["v"] = v_of(mpf(v0[i]), ge, h)
                if h.amsgrad:
                    predicted["vmax"] = steps.nan_max(mpf(vmax0[i]), predicted["v"])
            scales = {"m": abs(mpf(m0[i])) + abs(ge), "v": abs(mpf(v0[i])) + ge * ge}
            scales["vmax"] = scales["v"] + abs(mpf(vmax0[i]))
            for name, value in predicted.items():
                if not _close(got[name][i], value, _tolerance(caps, storage, value, scales[name], bound[name][i])):
                    return False
            u = steps.normalised_update(mpf(got["m"][i]), mpf(denom[i]), bc1, bc2, h, variant)
            theta = steps.apply_update(mpf(th[i]), u, h, variant)
            scale = abs(mpf(th[i])) + abs(steps.learning_rate(h, variant) * u)
            if not _close(got["theta"][i], theta, _tolerance(caps, storage, theta, scale, bound["theta"][i])):
                return False
    return True


def mirrored_lerp(s: Step, caps) -> bool:
    """m_t = m − β₁·(g − m) where the step needs m + (1 − β₁)·(g − m), at β₁ ≤ ½ (the branch of a
    lerp with weight 1 − β₁ ≥ ½ that starts from the wrong end), with v, vmax and the count
    right, and θ the spec's step from that m (torch's compiled foreach step, 0-d float64)."""
    if not 0.0 <= s.hyper.beta1 <= 0.5:
        return False
    return _from_stored_moments(s, caps, lambda m, g, h: m - mpmath.mpf(h.beta1) * (g - m))


def dropped_gradient(s: Step, caps) -> bool:
    """The in-place updates that add the gradient to the moments are lost: m_t = m and
    v_t = β₂·v (the lerp and the addcmul of (1 − β₂)·g² dropped, the scaling by β₂ kept), vmax_t
    the maximum of vmax and that v_t, and θ the spec's step from those stored moments (torch's
    compiled for-loop step on a 0-d float64 parameter; from fresh state θ, m and v stay 0)."""
    return _from_stored_moments(s, caps, lambda m, g, h: m, lambda v, g, h: mpmath.mpf(h.beta2) * v)


def _flat(a):
    return None if a is None else np.asarray(a).reshape(-1)


def memory_order(s: Step, caps) -> bool:
    """θ, m and v each the spec's step of the elements at the same memory offset, for a 2-d θ
    stored column-major and a row-major gradient (torch's fused CPU kernel pairs by memory
    offset, not by index). State the implementation made is laid out like θ (``zeros_like``
    keeps its strides), injected state is row-major (adapters/torch_optim.py): each is read in
    its own order, at every step."""
    th = np.asarray(s.before.theta)
    if s.layout != "transposed" or th.ndim != 2 or s.after.step != s.t:
        return False

    def col(a):  # θ's memory order
        return None if a is None else np.asarray(a).T.reshape(-1)

    st = col if s.made_fresh else _flat
    before = ParamState(col(th), st(s.before.m), st(s.before.v), st(s.before.vmax), s.before.step)
    after = ParamState(col(s.after.theta), st(s.after.m), st(s.after.v), st(s.after.vmax), s.after.step)
    return judge_step(before, _flat(s.grad), s.hyper, after, caps).ok


def dense_run(s: Step, caps) -> bool:
    """A θ holding every other element of a buffer stepped as if it were the dense run of its
    numel elements from its start (torch's fused CPU kernel on a non-contiguous θ): the kernel
    reads buffer offset k, holding θ[k/2] for even k and the zeros between the view's elements
    (adapters/torch_optim.py) for odd k, with g, m and v (row-major) at index k; the view's
    element i shows the kernel's θ at offset 2i, and is untouched where 2i ≥ numel.

    Judged: θ wherever the view shows it, and m and v at every k, except, under coupled L2
    after the first step, m and v at odd k: their input θ is the kernel's own earlier write to
    memory between the view's elements, which no read-back shows (not modelled, not excused
    either way: such an element is simply not looked at)."""
    th = np.asarray(s.before.theta)
    if s.layout != "strided" or s.after.step != s.t:
        return False
    n = th.size
    buf = np.zeros(2 * n, dtype=th.dtype)
    buf[::2] = th.reshape(-1)
    shown = np.arange(0, n, 2)  # offsets whose θ the view shows
    theta_run = np.full(n, np.nan)
    theta_run[shown] = _flat(s.after.theta)[: shown.size]
    untouched = _flat(s.after.theta)[shown.size:]
    if untouched.tobytes() != th.reshape(-1)[shown.size:].tobytes():
        return False
    st = s.before if not fresh(s.before) else ParamState(th)
    before = ParamState(buf[:n], _flat(st.m), _flat(st.v), _flat(st.vmax), st.step)
    after = ParamState(theta_run, _flat(s.after.m), _flat(s.after.v), _flat(s.after.vmax), s.after.step)
    j = judge_step(before, _flat(s.grad), s.hyper, after, caps)
    known = np.ones(n, dtype=bool)
    if s.hyper.mode is Mode.ADAM_L2 and s.hyper.weight_decay != 0.0 and s.k > 0:
        known[1::2] = False
    ok = {name: meas.ok.reshape(-1) for name, meas in j.outputs.items()}
    return bool(ok["theta"][shown].all()) and all(bool(ok[name][known].all()) for name in ok if name != "theta")


def decay_evaluated_at_zero(s: Step, caps) -> bool:
    """At λ = 0 the decay is still evaluated, as g + 0·θ (coupled) or u + 0·θ (decoupled), in a
    program of its own (optax: add_decayed_weights with λ held as an array, each mode a separately
    jitted XLA graph). So every step is the spec's step within its bound (the modes agree to the
    bound, not bitwise: AD-13), except that at a non-finite θ the outputs the decay term reaches
    are NaN: θ_t, and under coupled L2 m_t and v_t (and vmax_t)."""
    j = judge_step(s.before, s.grad, s.hyper, s.after, caps)
    odd = ~np.isfinite(np.asarray(s.before.theta, dtype=np.float64))
    if s.hyper.weight_decay != 0.0 or s.hyper.mode is Mode.ADAM:
        odd = np.zeros_like(odd)
    reached = {"theta"} | ({"m", "v", "vmax"} if s.hyper.mode is Mode.ADAM_L2 else set())
    for name, m in j.outputs.items():
        ok = np.asarray(m.ok, bool)
        if name in reached:
            if not (ok[~odd].all() and np.isnan(np.asarray(j.got[name])[odd]).all()):
                return False
        elif not ok.all():
            return False
    return True


def overflowed_step_size(s: Step, caps) -> bool:
    """The step size α/(1 − β₁^t) formed first, in float32, and cast to a float16 parameter's dtype,
    overflows to inf where the spec's m̂ and u are finite (MLX's bias-corrected Adam: lr = 0.1 and
    β₁ = 0.999999 give 1.05e5 > 65504). m, v and the count must be the spec's; θ_t is then
    θ − inf·m_t/(√v_t·c₂ + ε): −sign(m_t)·inf where m_t ≠ 0, NaN where m_t = 0 (inf·0), and NaN or
    ±inf where the denominator is 0 or infinite."""
    th = np.asarray(s.before.theta)
    if th.dtype != np.float16 or s.after.step != s.t or s.after.m is None:
        return False
    f32 = np.float32
    with np.errstate(over="ignore"):
        c1 = np.float16(f32(s.hyper.lr) / (f32(1) - f32(s.hyper.beta1) ** f32(s.t)))
    if np.isfinite(c1):
        return False
    j = judge_step(s.before, s.grad, s.hyper, s.after, caps)
    if any(not bool(j.outputs[name].ok.all()) for name in ("m", "v", "vmax") if name in j.outputs):
        return False
    m = np.asarray(s.after.m, dtype=np.float64)
    got = np.asarray(s.after.theta, dtype=np.float64)
    den_ok = np.isfinite(np.asarray(s.after.v, dtype=np.float64)) & (np.asarray(s.after.v, dtype=np.float64) > 0)
    signed = np.isinf(got) & (np.sign(got) == -np.sign(m))
    fits = np.where(m == 0, np.isnan(got), np.where(den_ok, signed, np.isnan(got) | np.isinf(got)))
    return bool(fits.all())


def restored_as_if_stepped_once(s: Step, caps) -> bool:
    """A parameter that had no state when the checkpoint was saved comes back with the state of
    one step the fresh instance took at lr = 0 on a zero gradient, with its constructor's
    β₁, β₂, λ (``UNLIKE_DEFAULTS``; amsgrad kept): count 1, and zero moments under AdamW but
    m = (1 − β₁)·λθ, v = (1 − β₂)·(λθ)² under coupled L2, whose gradient is λθ. When no
    parameter had state, ``get_optimizer_state_dict`` took that step on the saved instance itself
    (its own β₁, β₂, λ) and the checkpoint holds its result, which the restore gives. Its first step
    then stores count 2 and is the spec's step from that state, while every step from a state it
    holds is the spec's (torch.distributed.checkpoint's ``set_optimizer_state_dict`` with
    ``strict=False``: ``_init_optim_state`` steps the fresh optimizer so). Both steps are judged
    within the bound, the restored state on what ``read()`` gave right after the restore.
    ``WITNESSES`` asks for at least one such step, so that a restore that merely perturbs a
    stored state is not excused by the conforming steps around it."""
    if not fresh(s.before):
        return s.after.step == int(s.before.step) + 1 and judge_step(s.before, s.grad, s.hyper, s.after, caps).ok
    r = s.restored
    if r is None:  # a first step that no restore preceded: the spec's, count 1
        return s.after.step == 1 and judge_step(s.before, s.grad, s.hyper, s.after, caps).ok
    b1, b2 = UNLIKE_DEFAULTS["betas"]
    l2 = Mode.ADAM_L2.value in caps.modes  # torch.optim.Adam: its weight_decay is coupled L2
    made_with = replace(s.hyper, lr=0.0) if s.empty_checkpoint else Hyper(
        lr=0.0, beta1=b1, beta2=b2, eps=UNLIKE_DEFAULTS["eps"], weight_decay=UNLIKE_DEFAULTS["weight_decay"],
        mode=Mode.ADAM_L2 if l2 else Mode.ADAMW, amsgrad=s.hyper.amsgrad, maximize=not s.hyper.maximize)
    th = np.asarray(s.before.theta)
    return (r.step == 1 and s.after.step == 2
            and judge_step(s.before, np.zeros_like(th), made_with, r, caps).ok
            and judge_step(r, s.grad, s.hyper, s.after, caps).ok)


def stepped_with_zero_gradient(s: Step, caps) -> bool:
    """A step that gives the parameter no gradient is taken as the spec's step with g = 0: the
    count advances (from 0 where it had no state, its m and v made as zeros), m and v decay, θ is
    decayed and moved by the decayed m, all within the bound; every step with a gradient is the
    spec's (DeepSpeed ZeRO stage 1/2: one flat buffer per group is stepped whole, and a
    parameter without a gradient is a run of zeros in it)."""
    grad = np.zeros_like(np.asarray(s.before.theta)) if s.grad is None else s.grad
    return s.after.step == s.t and judge_step(s.before, grad, s.hyper, s.after, caps).ok


def skipped_step(s: Step, caps) -> bool:
    """The step is not taken at all: θ, m and v stored bitwise as they were and the count not
    advanced (no state where there was none), as a step skipped on a non-finite gradient norm
    (DeepSpeed ZeRO stage 1/2's overflow check, which also skips fp32 runs)."""
    th = np.asarray(s.before.theta)
    if not _bitwise(s.after.theta, th):
        return False
    if fresh(s.before):
        return fresh(s.after)
    if s.after.step != s.before.step:
        return False
    return all(getattr(s.after, n) is not None and _bitwise(getattr(s.after, n), getattr(s.before, n))
               for n in ("m", "v"))


def left_out_when_empty(s: Step, caps) -> bool:
    """A parameter with no elements is left out of the optimizer: it is never given state
    (DeepSpeed's is_optimized_parameter); a parameter with elements is stepped as the spec's."""
    if np.size(s.before.theta) == 0:
        return np.size(s.after.theta) == 0 and fresh(s.after)
    return s.after.step == s.t and judge_step(s.before, s.grad, s.hyper, s.after, caps).ok


MODELS: dict[str, Callable[[Step, object], bool]] = {
    "stepped_with_zero_gradient": stepped_with_zero_gradient,
    "skipped_step": skipped_step,
    "left_out_when_empty": left_out_when_empty,
    "lost_update": lost_update,
    "nan_at_lr_zero": nan_at_lr_zero,
    "mirrored_lerp": mirrored_lerp,
    "dropped_gradient": dropped_gradient,
    "memory_order": memory_order,
    "dense_run": dense_run,
    "decay_evaluated_at_zero": decay_evaluated_at_zero,
    "overflowed_step_size": overflowed_step_size,
    "restored_as_if_stepped_once": restored_as_if_stepped_once,
}

# A model whose steps include conforming ones names the step that must show its deviation: at
# least one offending step must meet its witness, or the model does not fit.
WITNESSES: dict[str, Callable[[Step], bool]] = {
    "restored_as_if_stepped_once": lambda s: fresh(s.before) and s.restored is not None,
    "stepped_with_zero_gradient": lambda s: s.grad is None,
    "skipped_step": lambda s: s.grad is not None and not bool(np.all(np.isfinite(s.grad))),
    "left_out_when_empty": lambda s: np.size(s.before.theta) == 0,
}

# Models about the steps that give a parameter no gradient: offending_steps hands them those too.
WITHOUT_GRADIENT = frozenset({"stepped_with_zero_gradient"})


def _t_prev(p) -> int:
    return 0 if p.state is None or p.state.step is None else int(p.state.step)


def _moves_a_0d_float64(case, i) -> bool:
    """dropped_gradient shows on a 0-d float64 parameter given a nonzero gradient."""
    p = case.params[i]
    return (np.asarray(p.init).dtype == np.float64 and np.ndim(p.init) == 0
            and any(g[i] is not None and np.any(np.asarray(g[i]) != 0) for g in case.grads))


def _overflows_float16_step_size(case, i) -> bool:
    """overflowed_step_size shows on a float16 parameter at a step whose α/(1 − β₁^t) passes 65504."""
    p, f32 = case.params[i], np.float32
    if np.asarray(p.init).dtype != np.float16:
        return False
    t = _t_prev(p)
    for k, g in enumerate(case.grads):
        if g[i] is None:
            continue
        t += 1
        h = case.hypers_at(k)[i]
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            if not np.isfinite(np.float16(f32(h.lr) / (f32(1) - f32(h.beta1) ** f32(t)))):
                return True
    return False


def _stateless_at_checkpoint(case, i) -> bool:
    """restored_as_if_stepped_once shows on a parameter with no state at the checkpoint (made
    fresh, no gradient before it) that gets a gradient after it."""
    p, at = case.params[i], case.resume_at
    return (at is not None and _t_prev(p) == 0 and all(g[i] is None for g in case.grads[:at])
            and any(g[i] is not None for g in case.grads[at:]))


# Where a model's deviation can show, for the stale rule (deviations.Deviation.may_apply): a
# deviation narrower than its entry's input keys is not "fixed" because the keyed inputs were drawn.
TRIGGERS: dict[str, Callable] = {
    "dropped_gradient": _moves_a_0d_float64,
    "overflowed_step_size": _overflows_float16_step_size,
    "restored_as_if_stepped_once": _stateless_at_checkpoint,
}


def fits(model: str, v, runs, caps, inputs: Callable[[InputKind], bool]) -> bool:
    """Whether every step the violation is about is exactly what the model says."""
    found = offending_steps(v, runs, inputs, without_gradient=model in WITHOUT_GRADIENT)
    witness = WITNESSES.get(model, lambda s: True)
    return found is not None and all(MODELS[model](s, caps) for s in found) and any(map(witness, found))

