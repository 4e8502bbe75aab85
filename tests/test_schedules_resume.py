"""Schedules (SPEC GRP-4) and checkpoint/resume (SPEC STATE-6): the case format, the adapters'
hooks, and the two properties on correct and wrong implementations."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings

from adamspec.adapters.base import GroupSpec, Resumes, Schedules
from adamspec.adapters.numpy_impl import NumpyAdapter
from adamspec.conformance import registry
from adamspec.conformance import strategies as S
from adamspec.conformance.cases import Case, GroupCase, ParamCase
from adamspec.conformance.execute import execute
from adamspec.conformance.runner import run
from adamspec.reference.hyper import Hyper


@pytest.fixture(scope="module", autouse=True)
def _properties():
    registry.load()


def _case(n=3, schedule=(), resume_at=None, dtype=np.float64):
    h = Hyper(lr=0.1, weight_decay=0.1, mode="adamw")
    grads = tuple((np.array([0.5, -1.0, 2.0], dtype) * (k + 1),) for k in range(n))
    return Case((GroupCase(h, (ParamCase(np.array([1.0, -2.0, 0.25], dtype)),)),), grads,
                schedule=schedule, resume_at=resume_at)


def test_a_schedule_and_a_resumption_survive_the_case_format():
    base = _case()
    h = base.groups[0].hyper
    sched = ((h,), (replace(h, lr=0.0, beta2=0.5),), (replace(h, weight_decay=0.0),))
    case = replace(base, schedule=sched, resume_at=2)
    back = Case.from_json(case.to_json())
    assert back.schedule == sched and back.resume_at == 2
    assert [x.lr for x in back.hypers_at(1)] == [0.0] and back.hypers_at(2)[0].weight_decay == 0.0
    assert '"format":"adamspec-case/3"' in case.to_json()
    # an adamspec-case/2 payload reads as constant hyperparameters, no resumption
    old = base.to_json().replace("adamspec-case/3", "adamspec-case/2").replace(',"schedule":[],"resume_at":null', "")
    assert old != base.to_json() and Case.from_json(old).to_json() == base.to_json()


@pytest.mark.parametrize("change, match", [
    (lambda c, h: replace(c, schedule=((h,), (h,))), "every step"),
    (lambda c, h: replace(c, schedule=((replace(h, lr=0.5),), (h,), (h,))), "groups' own"),
    (lambda c, h: replace(c, schedule=((h,), (replace(h, amsgrad=True),), (h,))), "changes only"),
    (lambda c, h: replace(c, resume_at=0), "resume_at"),
    (lambda c, h: replace(c, resume_at=3), "resume_at"),
])
def test_malformed_schedules_and_resumptions_are_refused(change, match):
    with pytest.raises(ValueError, match=match):
        change(_case(), _case().groups[0].hyper)


@settings(max_examples=30, deadline=None, database=None)
@given(S.scheduled_trajectories(NumpyAdapter("adamw").capabilities))
def test_drawn_schedules_change_only_the_scheduled_values_and_stay_valid(case):
    assert len(case.schedule) == len(case.grads)
    for step in case.schedule:
        for h, g in zip(step, case.groups, strict=True):
            assert (h.mode, h.amsgrad, h.maximize) == (g.hyper.mode, g.hyper.amsgrad, g.hyper.maximize)
            assert h.lr * h.weight_decay <= 0.5


def test_warmup_starts_at_exactly_zero_and_cosine_ends_at_zero():
    assert S.lr_schedule("warmup", 0.1, 5, 4, [])[0] == 0.0
    assert S.lr_schedule("warmup", 0.1, 5, 4, [])[4] == 0.1
    assert S.lr_schedule("cosine", 0.1, 5, 1, [])[-1] == pytest.approx(0.0, abs=1e-18)
    assert S.lr_schedule("step", 0.1, 4, 2, []) == [0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1]


def test_an_adapter_without_the_hooks_is_not_applicable_never_passed():
    class Plain:
        capabilities = NumpyAdapter("adamw").capabilities

        def open(self, groups, states):
            inner = NumpyAdapter("adamw").open(groups, states)
            return type("S", (), {"step": inner.step, "read": inner.read, "close": inner.close})()

    adapter = Plain()
    assert not isinstance(adapter.open([GroupSpec(Hyper(mode="adamw"), (np.ones(2),))], [None]), Schedules)
    result = run(adapter, "ci", seed=0, clauses=["GRP-4", "STATE-6"], deviations=[])
    verdicts = {v.property: v for v in result.verdicts}
    assert verdicts["schedules"].verdict == "not-applicable" and "set_hypers" in verdicts["schedules"].reason
    assert verdicts["resume"].verdict == "not-applicable" and "resume hook" in verdicts["resume"].reason


def test_numpy_resumes_bitwise_and_follows_a_schedule():
    adapter = NumpyAdapter("adamw")
    h = _case().groups[0].hyper
    sched = ((h,), (replace(h, lr=0.0),), (replace(h, lr=0.05, beta1=0.5),))
    straight = execute(adapter, _case(schedule=sched))
    resumed = execute(adapter, _case(schedule=sched, resume_at=1))
    for a, b in zip(straight.snapshots, resumed.snapshots, strict=True):
        assert a[0].step == b[0].step and np.array_equal(a[0].theta, b[0].theta)
    # lr = 0 at step 2: θ keeps its value (after AdamW's decay, also 0) while the state advances
    assert np.array_equal(straight.snapshots[2][0].theta, straight.snapshots[1][0].theta)
    assert straight.snapshots[2][0].step == 2


torch = pytest.importorskip("torch", reason="torch is an optional extra: pip install 'adamspec[torch]'")

from adamspec.adapters.registry import load_adapter  # noqa: E402
from adamspec.adapters.torch_optim import UNLIKE_DEFAULTS, write_hypers  # noqa: E402


def test_a_tensor_lr_is_written_in_place():
    lr = torch.tensor(0.1)
    group = {"lr": lr, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
    write_hypers(group, Hyper(lr=0.25, beta1=0.5, beta2=0.75, eps=1e-6, weight_decay=0.125))
    assert group["lr"] is lr and lr.item() == 0.25
    assert group["betas"] == (0.5, 0.75) and group["eps"] == 1e-6 and group["weight_decay"] == 0.125


@pytest.mark.parametrize("path", ["forloop", "foreach", "fused"])
def test_torch_resume_restores_the_saved_groups_and_the_step_tensor(path):
    """The fresh optimizer was built with UNLIKE_DEFAULTS; after load_state_dict its groups hold
    the saved values, and the step count keeps its dtype and device (SPEC STATE-6)."""
    adapter = load_adapter(f"torch.adamw.{path}")
    h = Hyper(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7, weight_decay=0.1, mode="adamw", amsgrad=True)
    session = adapter.open([GroupSpec(h, (np.array([1.0, 2.0], np.float32),))], [None])
    assert isinstance(session, Resumes) and isinstance(session, Schedules)
    session.step([np.array([0.5, -0.5], np.float32)])
    old_opt, old_step = session.opt, next(iter(session.opt.state.values()))["step"]
    before = session.read()
    session.resume()
    assert session.opt is not old_opt
    (group,) = session.opt.param_groups
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"], group["amsgrad"]) == (
        0.01, (0.8, 0.99), 1e-7, 0.1, True)
    assert group["lr"] != UNLIKE_DEFAULTS["lr"]
    step = session.opt.state[session.params[0]]["step"]
    assert (step.dtype, step.device, step.item()) == (old_step.dtype, old_step.device, 1.0)
    after = session.read()
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for a, b in zip(before, after)
               for k in ("theta", "m", "v", "vmax"))
    session.close()


@pytest.mark.parametrize("name", ["torch.adamw.foreach", "torch.adam.forloop", "numpy.adamw"])
def test_correct_implementations_pass_schedules_and_resume(name):
    result = run(load_adapter(name), "ci", seed=1, clauses=["GRP-4", "STATE-6"], deviations=[])
    assert {v.property: v.verdict for v in result.verdicts} == {"schedules": "pass", "resume": "pass"}, [
        (v.property, [f.message for f in v.failures]) for v in result.verdicts]


@pytest.mark.parametrize("mode", ["adam", "adam_l2"])
def test_the_compiled_step_resumes_bitwise_in_every_mode(mode):
    """Found by resume at default on torch.adam.compiled: building the fresh instance for mode adam
    raised (an unlike λ > 0 is no Hyper of mode adam). Resumed, it equals the uninterrupted run."""
    adapter = load_adapter("torch.adam.compiled")
    h = Hyper(lr=1e-2, weight_decay=0.0 if mode == "adam" else 0.1, mode=mode)
    grads = ((np.array([0.5, -1.0], np.float32),), (np.array([1.0, 0.25], np.float32),))
    case = Case((GroupCase(h, (ParamCase(np.array([1.0, -2.0], np.float32)),)),), grads)
    straight = execute(adapter, case)
    resumed = execute(adapter, replace(case, resume_at=1))
    a, b = straight.snapshots[-1][0], resumed.snapshots[-1][0]
    assert a.step == b.step == 2 and np.array_equal(a.theta, b.theta) and np.array_equal(a.v, b.v)


def _restored_instance_writes_into_grad():
    """A wrong optimizer whose instances restored from a checkpoint double p.grad after each step:
    only a mutation check after the resumption can see it."""
    from adamspec.selftest.zoo.reference_adam import ReferenceAdamW

    class WritesGradAfterLoad(ReferenceAdamW):
        def load_state_dict(self, state_dict):
            super().load_state_dict(state_dict)
            self._restored = True

        def step(self, closure=None):
            loss = super().step(closure)
            if getattr(self, "_restored", False):
                for group in self.param_groups:
                    for p in group["params"]:
                        if p.grad is not None:
                            p.grad.mul_(2.0)
            return loss

    return WritesGradAfterLoad


def test_mutation_checks_still_apply_after_resuming():
    """STATE-6 with MUT-1: the restored instance's steps leave the gradient as given. The
    uninterrupted gradient_untouched passes this optimizer; resume rejects it under MUT-1."""
    pytest.importorskip("torch")
    from adamspec.adapters.torch_optim import TorchClassAdapter
    from adamspec.conformance.runner import run_property

    adapter = TorchClassAdapter(_restored_instance_writes_into_grad(), "adamw", name="writes_grad_after_load")
    assert run_property(registry.PROPERTIES["gradient_untouched"], adapter, "ci", seed=0).verdict == "pass"
    v = run_property(registry.PROPERTIES["resume"], adapter, "ci", seed=0)
    assert v.verdict == "fail" and v.failures[0].clause == "MUT-1", [f.message for f in v.failures]
    assert "resumed after step" in v.failures[0].message
