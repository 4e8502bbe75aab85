"""adamspec identify (issue 15): each knob's designed case tells its values apart by far more than
the bound, and an implementation of a variant is named as that variant — the numpy adapter
computing declared variants, zoo members that are variants, and none for a wrong optimizer."""

import json
import subprocess
import sys

import pytest

from adamspec.adapters.numpy_impl import NumpyAdapter
from adamspec.conformance.identify import MIN_SEPARATION, candidates, design, identify
from adamspec.reference.hyper import CANONICAL, KNOBS, Variant


@pytest.mark.parametrize("knob", list(KNOBS))
def test_every_knob_gets_a_case_that_separates_its_values(knob):
    caps = NumpyAdapter("adamw").capabilities
    probe = design(caps, knob, "float64", "adamw")
    assert probe is not None and probe.separation >= MIN_SEPARATION
    assert set(probe.predicted) == set(candidates(knob))
    thetas = [p["theta"] for p in probe.predicted.values()]
    assert len(set(thetas)) == len(thetas) or knob == "amsgrad_over"  # amsgrad_over may differ in θ only via v̂


@pytest.mark.parametrize("variant", [
    CANONICAL,
    Variant(eps_placement="hat"),
    Variant(eps_placement="inside"),
    Variant(eps_placement="floor"),
    Variant(decay_order="after"),
    Variant(decay_scale="independent"),
    Variant(amsgrad_over="vhat"),
    Variant(bias_correction=False, decay_order="after"),
])
def test_an_implementation_of_a_variant_is_named_as_that_variant(variant):
    r = identify(NumpyAdapter("adamw", variant=variant))
    assert r.variant == variant, (r.closest, r.off)
    for k in r.knobs:  # each knob's evidence agrees with the answer
        assert (r.computes if k.knob == "mode" else getattr(variant, k.knob)) in k.fits
    assert r.computes == "adamw"


def test_without_bias_correction_the_equivalent_placements_are_both_shown_and_the_simplest_named():
    r = identify(NumpyAdapter("adam", variant=Variant(bias_correction=False)))
    assert r.variant == Variant(bias_correction=False)
    (eps,) = [k for k in r.knobs if k.knob == "eps_placement"]
    assert set(eps.fits) == {"outside", "hat"}  # ε on the uncorrected root is ε outside, uncorrected
    (decay,) = [k for k in r.knobs if k.knob == "decay_order"]
    assert not decay.distance and "mode adamw" in decay.reason


torch = pytest.importorskip("torch", reason="torch is an optional extra: pip install 'adamspec[torch]'")

from adamspec.adapters.registry import load_adapter  # noqa: E402
from adamspec.selftest.zoo.catalogue import MUTANTS, adapter  # noqa: E402

ZOO = {m.name: m for m in MUTANTS}


def test_torch_is_canonical():
    r = identify(load_adapter("torch.adamw.foreach"))
    assert r.variant == CANONICAL and r.off == ()


@pytest.mark.parametrize("name, variant", [
    ("eps_hat", Variant(eps_placement="hat")),
    ("eps_inside_root", Variant(eps_placement="inside")),
    ("decay_after_update", Variant(decay_order="after")),
    ("decay_not_scaled_by_lr", Variant(decay_scale="independent")),
    ("amsgrad_over_vhat", Variant(amsgrad_over="vhat")),
    ("no_bias_correction", Variant(bias_correction=False)),
    ("eps_floor", Variant(eps_placement="floor")),
    ("bias_correction_m_only", Variant(bias_correction="m")),
])
def test_zoo_members_that_are_variants_are_named(name, variant):
    assert identify(adapter(ZOO[name])).variant == variant


@pytest.mark.parametrize("name", ["eps_squared_inside_root", "swapped_betas", "bias_correction_v_only"])
def test_no_variant_fits_a_wrong_optimizer(name):
    r = identify(adapter(ZOO[name]))
    assert r.variant is None and r.off


def test_the_cli_says_no_variant_fits_with_exit_1():
    m = ZOO["eps_squared_inside_root"]
    proc = subprocess.run([sys.executable, "-m", "adamspec", "identify", "--adapter",
                           f"{m.cls.__module__}:{m.cls.__qualname__}", "--claim", m.claim, "--format", "json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["fits"] is False and out["off"] and {k["knob"] for k in out["evidence"]} == {*KNOBS, "mode"}
    assert set(out["variant"]) == set(KNOBS) and out["mode"] == m.claim


def test_the_json_names_values_as_the_spec_does():
    r = identify(NumpyAdapter("adamw", variant=Variant(eps_placement="hat", decay_order="after")))
    out = json.loads(json.dumps(r.as_dict()))
    assert out["fits"] is True and out["mode"] == "adamw"
    assert out["variant"] == {"decay_order": "after", "decay_scale": "lr", "eps_placement": "hat",
                              "bias_correction": True, "amsgrad_over": "v"}
    ev = {e["knob"]: e for e in out["evidence"]}
    assert ev["eps_placement"]["case"]["separation_bounds"] >= MIN_SEPARATION
    assert {d["value"] for d in ev["bias_correction"]["distance"]} == {True, False, "m"}


@pytest.mark.parametrize("name, computes", [("coupled_l2_as_adamw", "adam_l2"), ("decoupled_as_adam_l2", "adamw")])
def test_the_mode_a_class_really_computes_is_named(name, computes):
    r = identify(adapter(ZOO[name]))
    assert r.computes == computes and r.mode != computes and r.variant == CANONICAL


def test_torch_adam_computes_coupled_l2():
    assert identify(load_adapter("torch.adam.foreach")).computes == "adam_l2"


@pytest.mark.parametrize("name, hint", [
    ("eps_hat", "the results fit the variant eps_placement = 'hat' (VAR-4): declare it (VAR-1)"),
    ("coupled_l2_as_adamw", "the results fit mode adam_l2 (L2-1), not adamw: claim that mode"),
    ("swapped_betas", None),
])
def test_a_failing_run_names_the_nearest_variant(name, hint):
    from adamspec.conformance.runner import run

    r = run(adapter(ZOO[name]), "ci", seed=0, clauses=["AD-1"], deviations=[])
    assert r.verdict == "non-conformant"
    hints = [w for w in r.warnings if "adamspec identify" in w]
    assert (hints == []) if hint is None else (len(hints) == 1 and hints[0].startswith(hint))


@pytest.mark.parametrize("name, pairs", [
    ("eps_hat", ["eps_placement=hat"]),
    ("eps_inside_root", ["eps_placement=inside"]),
    ("no_bias_correction", ["bias_correction=false"]),
    ("decay_after_update", ["decay_order=after"]),
    ("decay_not_scaled_by_lr", ["decay_scale=independent"]),
    ("amsgrad_over_vhat", ["amsgrad_over=vhat"]),
    ("eps_floor", ["eps_placement=floor"]),
    ("bias_correction_m_only", ["bias_correction=m"]),
])
def test_a_variant_member_declared_as_its_variant_conforms(name, pairs):
    """Judged against the variant it computes (--variant), a zoo variant passes the clauses that
    reject it undeclared: the suite judges variants as exactly as the canonical step."""
    from adamspec.adapters.registry import with_variant
    from adamspec.conformance.runner import run

    m = ZOO[name]
    declared = run(with_variant(adapter(m), pairs), "ci", seed=0, clauses=list(m.expected_clauses), deviations=[])
    assert declared.verdict == "conformant", [(v.property, [f.message for f in v.failures])
                                              for v in declared.verdicts if v.verdict != "pass"]
    undeclared = run(adapter(m), "ci", seed=0, clauses=list(m.expected_clauses), deviations=[])
    assert undeclared.verdict == "non-conformant"


def test_bad_variant_pairs_are_usage_errors():
    from adamspec.adapters.registry import UsageError, with_variant

    for pairs in (["eps_placement=sometimes"], ["grad_clip=1"], ["bias_correction"], ["schedule_multiplier=x"]):
        with pytest.raises(UsageError):
            with_variant(NumpyAdapter("adamw"), pairs)
