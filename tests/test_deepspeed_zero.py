"""DeepSpeed ZeRO stage 1 and 2 (adapters/deepspeed_zero.py): names, records and the extra without
DeepSpeed; with it, the plain-DeepSpeed reproduction of every finding (each asserts today's
behaviour, so it fails once DeepSpeed changes: then re-check the known-deviation entries and the
adapter's workarounds), and the `ci` runs, which are slow (the first ever JIT-builds two C++ ops:
minutes; a pool start is ~25 s, a `ci` run 40–60 s after it on 2 cores)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from adamspec.adapters.registry import BUILTIN, UsageError, load_adapter, unavailable_reason

NAMES = ("deepspeed.zero1.adamw", "deepspeed.zero2.adamw")
REPRO = Path(__file__).with_name("fixtures") / "deepspeed_zero_repro.py"


def test_both_stages_are_builtins_and_sweep_alone():
    assert all(n in BUILTIN for n in NAMES)
    assert all(getattr(BUILTIN[n](), "sweep_alone", None) for n in NAMES)


@pytest.mark.parametrize("world", [2, 3, 4])
def test_the_world_size_is_part_of_the_name_and_the_record(world):
    suffix = "" if world == 2 else f"@{world}"
    caps = load_adapter(f"deepspeed.zero2.adamw@{world}").capabilities
    assert caps.name == f"deepspeed.zero2.adamw{suffix}" and caps.shards == world
    assert caps.dtypes == frozenset({"float32"}) and caps.compute == {"float32": "float32"}
    assert caps.scalars == "float32" and caps.powers == "product" and caps.modes == frozenset({"adamw"})
    assert not (caps.amsgrad or caps.maximize or caps.zero_dim) and caps.layouts == frozenset({"contiguous"})


@pytest.mark.parametrize("name", ["deepspeed.zero1.adamw@5", "deepspeed.zero2.adamw@x", "deepspeed.zero3.adamw"])
def test_a_bad_name_is_a_usage_error(name):
    with pytest.raises(UsageError):
        load_adapter(name)


def test_without_deepspeed_the_adapters_say_how_to_install_it(monkeypatch):
    """What `adamspec adapters` shows where the extra is absent (simulated: the distribution lookup fails)."""
    import importlib.metadata

    real = importlib.metadata.version

    def version(dist):
        if dist == "deepspeed":
            raise importlib.metadata.PackageNotFoundError(dist)
        return real(dist)

    monkeypatch.setattr(importlib.metadata, "version", version)
    why = unavailable_reason(load_adapter("deepspeed.zero1.adamw"))
    assert why == "deepspeed is not installed: pip install -c constraints.txt 'adamspec[deepspeed]'"


@pytest.fixture(scope="module", params=[1, 2], ids=["zero1", "zero2"])
def plain(request, tmp_path_factory):
    """The reproduction, in plain DeepSpeed on 2 gloo ranks, at ZeRO stage 1 and 2."""
    pytest.importorskip("deepspeed", reason="deepspeed is an optional extra: pip install -c constraints.txt "
                                            "'adamspec[deepspeed]'")
    out = tmp_path_factory.mktemp("ds") / "r.json"
    proc = subprocess.run([sys.executable, str(REPRO), str(request.param), str(out)], capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow  # ~50 s per stage once the ops are built
def test_the_basic_optimizer_is_fusedadam_and_clipping_is_on_by_default(plain):
    """Declared from source (adapters/deepspeed_zero.py): "type": "AdamW" without torch_adam or
    offload is FusedAdam; and 0.19.8 clips gradients at norm 1.0 unless the config says
    otherwise, which the adapter's config does (gradient_clipping 0)."""
    assert plain["optimizer"] == "FusedAdam" and plain["gradient_clipping_default"] == 1.0


@pytest.mark.slow
def test_a_parameter_without_gradient_is_stepped_with_zeros(plain):
    """The NOGRAD-1/NOGRAD-2 entries (model stepped_with_zero_gradient): b is decayed by lr·λ."""
    r = plain["no_grad"]
    assert r["b_grad"] is None and r["torch_b_after"] == [2.0] * 4
    assert r["b_after"] == pytest.approx([2.0 * (1 - 0.1 * 0.5)] * 4) and r["b_exp_avg_sq"] == [0.0] * 4


@pytest.mark.slow
def test_a_nan_gradient_skips_the_whole_fp32_step(plain):
    """The non_finite entries (model skipped_step): nothing moves, not even b, no state is made."""
    r = plain["nan_grad"]
    assert r["a_after"] == ["1.0", "-2.0", "3.0", "0.5"] and r["b_after"] == [2.0] * 4
    assert r["state"] == [] and r["skipped_steps"] == 1


@pytest.mark.slow
def test_no_hyperparameter_is_validated_but_amsgrad_is_refused(plain):
    """The VAL-1…VAL-4 entries; VAL-6 (amsgrad) conforms."""
    assert plain["accepted"] == {"lr": None, "eps": None, "betas": None, "weight_decay": None}
    assert plain["amsgrad"].startswith("RuntimeError: FusedAdam does not support the AMSGrad")


@pytest.mark.slow
def test_empty_parameters_are_left_out_and_a_group_of_them_fails(plain):
    """The STATE-1 shapes_layouts entry (model left_out_when_empty), and the adapter's refusal of a
    group whose parameters are all empty."""
    assert plain["empty"] == {"has_hp_mapping": False, "only_empty_group": "IndexError: list index out of range"}


@pytest.mark.slow
def test_the_state_of_a_later_group_is_not_linked_for_safe_get(plain):
    """Why the adapter links the fragments again after its first step (adapters/deepspeed_rank.py):
    ZeRO links them once, right after stepping the first group."""
    r = plain["second_group"]
    assert r["group0"] is None and r["group1_state_exists"] == ["exp_avg", "exp_avg_sq", "step"]
    assert r["group1"] == "ValueError: exp_avg not found in optimizer state fragment"


@pytest.mark.slow
def test_a_0d_parameter_fails_in_initialize(plain):
    """Why the record says zero_dim False."""
    assert plain["zero_dim"].startswith("RuntimeError: self.dim() cannot be 0 to view Float as Byte")


@pytest.mark.slow  # 40–60 s each after a ~25 s pool start (DEEPSPEED_NOTES.md)
@pytest.mark.parametrize("name", [*NAMES, "deepspeed.zero2.adamw@3"])
def test_each_stage_conforms_at_ci_with_exactly_its_known_deviations(name):
    pytest.importorskip("deepspeed", reason="deepspeed is an optional extra")
    import adamspec

    result = adamspec.check(name)
    assert result.verdict == "conformant", [(v.clause, v.verdict, v.reason) for v in result.verdicts]
    assert not result.warnings
