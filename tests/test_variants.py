"""Each variant knob is defined once (reference.hyper.KNOBS) and handled everywhere a step is computed.

The exact reference (steps/exact) and the bound each declare the knob values they implement
(``HANDLED``) and compare them with the table when imported; here a value added to the table
and forgotten in one of them is shown to fail, at import and at a call. The fast oracle names
the values it has double-double code for and hands the others to the exact reference, so a
value it lacks is slower, never wrong. The spec's VAR-1 table and the code's table are the
same table.
"""

import re
import subprocess
import sys
import typing
from dataclasses import fields, replace

import numpy as np
import pytest

from adamspec import spec
from adamspec.adapters.base import Capabilities
from adamspec.conformance.variants import canonical_for
from adamspec.reference import CANONICAL, KNOBS, Hyper, Knob, State, Variant, bound, exact, fast, hyper, steps
from adamspec.reference.bound import Arithmetic, step_bound
from adamspec.reference.fast import fast_step

MODULES = {"reference.steps": steps, "reference.bound": bound}  # each must handle every value


def test_every_knob_has_a_canonical_value_and_a_var_clause():
    clauses = {c.id: c for c in spec.clauses()}
    for name, knob in KNOBS.items():
        assert knob.canonical in knob.values and len(set(knob.values)) == len(knob.values), name
        assert knob.clause.startswith("VAR-") and knob.clause in clauses, name
        assert f"`{name}`" in clauses[knob.clause].requirement, (name, knob.clause)


def test_variant_fields_are_the_table_typed_with_its_values():
    hints = typing.get_type_hints(Variant)
    assert {f.name for f in fields(Variant)} == set(KNOBS) | set(hyper.KNOB_PARAMETERS)
    for name, knob in KNOBS.items():
        assert typing.get_origin(hints[name]) is typing.Literal, name
        assert typing.get_args(hints[name]) == knob.values, name
        assert getattr(Variant(), name) == knob.canonical, name
    for param, (knob, value) in hyper.KNOB_PARAMETERS.items():
        assert value in KNOBS[knob].values, param


def test_validation_comes_from_the_table():
    for name, knob in KNOBS.items():
        for value in knob.values:
            Variant(**{name: value})
        with pytest.raises(ValueError, match=rf"{name} \({knob.clause}\)"):
            Variant(**{name: "sideways"})
    with pytest.raises(ValueError, match="bias_correction"):
        Variant(bias_correction=0)  # == False, but not one of the table's values
    with pytest.raises(ValueError, match="schedule_multiplier"):
        Variant(decay_scale="scheduled", schedule_multiplier=float("nan"))


def test_spec_var1_table_is_the_code_table():
    """SPEC VAR-1's knob table names the same knobs, canonical values, variants and clauses."""
    text = spec.spec_text()
    block = text.split("### VAR-1", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    rows = {}
    for line in block.strip().splitlines()[1:]:  # the first line is the header
        m = re.match(r"(\w+)\s+(\w+)\s+(.*?)\s+\((VAR-\d+)\)\s*$", line)
        assert m, line
        rows[m[1]] = (m[2], [x.strip() for x in m[3].split(",")], m[4])
    spelled = lambda x: str(x).lower()  # noqa: E731 - the spec writes booleans as true/false
    assert set(rows) == set(KNOBS)
    for name, knob in KNOBS.items():
        canonical, variants, clause = rows[name]
        assert canonical == spelled(knob.canonical), name
        assert variants == [spelled(v) for v in knob.values if v != knob.canonical], name
        assert clause == knob.clause, name


@pytest.mark.parametrize("where", sorted(MODULES))
def test_every_step_module_handles_exactly_the_table(where):
    module = MODULES[where]
    assert {k: set(v) for k, v in module.HANDLED.items()} == {k: set(kn.values) for k, kn in KNOBS.items()}
    hyper.check_handled(where, module.HANDLED)  # what the module ran at import


def test_the_fast_oracle_names_only_values_of_the_table():
    assert all(set(v) <= set(KNOBS[k].values) for k, v in fast.HANDLED.items())
    hyper.check_handled("reference.fast", fast.HANDLED, subset=True)
    with pytest.raises(ImportError, match="values \\['sideways'\\] handled but not in the table"):
        hyper.check_handled("reference.fast", dict(fast.HANDLED, decay_order={"before", "sideways"}), subset=True)


def _with_value(knobs, name, value):
    out = dict(knobs)
    out[name] = replace(knobs[name], values=knobs[name].values + (value,))
    return out


@pytest.mark.parametrize("where", sorted(MODULES))
@pytest.mark.parametrize("knob", sorted(KNOBS))
def test_a_value_added_to_the_table_and_not_handled_fails(where, knob):
    patched = _with_value(KNOBS, knob, "sideways")
    with pytest.raises(ImportError, match=rf"{where}.*{knob} \(VAR-\d\): values \['sideways'\] not handled"):
        hyper.check_handled(where, MODULES[where].HANDLED, patched)


@pytest.mark.parametrize("where", sorted(MODULES))
def test_a_knob_added_to_the_table_and_not_handled_fails(where):
    patched = dict(KNOBS, grad_clip=Knob(("off", "on"), "off", "VAR-7", "a knob nobody implements"))
    with pytest.raises(ImportError, match="knob grad_clip .* is not handled at all"):
        hyper.check_handled(where, MODULES[where].HANDLED, patched)


def test_import_fails_for_each_module_that_forgets_a_value():
    """The import-time guard itself: with a value added to the table, importing (or
    re-importing) steps and bound is an ImportError naming that module."""
    code = """
import importlib, sys
from dataclasses import replace
from adamspec.reference import hyper
k = hyper.KNOBS["eps_placement"]
hyper.KNOBS["eps_placement"] = replace(k, values=k.values + ("sideways",))
for name in ("steps", "bound", "fast"):
    sys.modules.pop(f"adamspec.reference.{name}", None)
    try:
        importlib.import_module(f"adamspec.reference.{name}")
    except ImportError as e:
        print(name, "ImportError", "sideways" in str(e) and f"adamspec.reference.{name}" in str(e))
    else:
        print(name, "imported")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    # the fast oracle imports: it hands the value it lacks to the exact reference
    assert out.stdout.split("\n")[:3] == ["steps ImportError True", "bound ImportError True", "fast imported"], out


def _one_step_inputs():
    theta, g, m, v = (np.array([x]) for x in (1.0, 0.5, 0.1, 0.01))
    return theta, g, m, v, 3, Hyper(lr=0.1, weight_decay=0.1)


def test_a_call_with_a_value_a_module_forgot_fails(monkeypatch):
    """At run time too: a value present in the (patched) table but not in a module's HANDLED is
    refused by that module's step, never computed as canonical."""
    monkeypatch.setattr(hyper, "KNOBS", _with_value(KNOBS, "eps_placement", "sideways"))
    sideways = Variant(eps_placement="sideways")  # valid for the patched table
    theta, g, m, v, t_prev, h = _one_step_inputs()
    with pytest.raises(NotImplementedError, match="reference.steps does not implement eps_placement"):
        exact.step(State.from_floats(theta, m, v, t_prev), g, h, sideways)
    with pytest.raises(NotImplementedError, match="reference.steps does not implement eps_placement"):
        fast_step(theta, g, m, v, t_prev, h, sideways)  # handed to the exact reference, which refuses
    ex64 = {k: a.astype(np.float64) for k, a in (("theta", theta), ("m", m), ("v", v))}
    with pytest.raises(NotImplementedError, match="bound does not implement eps_placement"):
        step_bound(theta, g, m, v, t_prev, h, Arithmetic(compute="float64"), "float64", ex64, sideways)


@pytest.mark.parametrize("where", sorted(MODULES))
def test_a_module_that_forgets_a_value_refuses_it(monkeypatch, where):
    """The other way round: a module whose HANDLED lost a value fails its import check and
    refuses a variant with that value at a call."""
    module = MODULES[where]
    forgot = {k: set(v) for k, v in module.HANDLED.items()}
    forgot["decay_order"].discard("after")
    with pytest.raises(ImportError, match=r"decay_order \(VAR-2\): values \['after'\] not handled"):
        hyper.check_handled(where, forgot)
    monkeypatch.setattr(module, "HANDLED", forgot)
    theta, g, m, v, t_prev, h = _one_step_inputs()
    after = Variant(decay_order="after")
    ex64 = {k: a.astype(np.float64) for k, a in (("theta", theta), ("m", m), ("v", v))}
    calls = {
        "reference.steps": lambda: exact.step(State.from_floats(theta, m, v, t_prev), g, h, after),
        "reference.bound": lambda: step_bound(theta, g, m, v, t_prev, h, Arithmetic(compute="float64"),
                                              "float64", ex64, after),
    }
    with pytest.raises(NotImplementedError, match="does not implement decay_order = 'after'"):
        calls[where]()


def test_the_fast_oracle_hands_a_value_it_lacks_to_the_exact_reference(monkeypatch):
    """Without double-double code for decay_order = "after", every element is exact.step's,
    counted as fallback: the same value, never the canonical step in disguise."""
    rng = np.random.default_rng(3)
    theta, g, m, v = rng.standard_normal(5), rng.standard_normal(5), rng.standard_normal(5), rng.random(5)
    h, after = Hyper(lr=0.1, weight_decay=0.5), Variant(decay_order="after")
    with_code = fast_step(theta, g, m, v, 3, h, after)
    monkeypatch.setattr(fast, "HANDLED", dict(fast.HANDLED, decay_order={"before"}))
    handed = fast_step(theta, g, m, v, 3, h, after)
    canonical = fast_step(theta, g, m, v, 3, h)
    assert with_code.fallback == 0 and handed.fallback == theta.size
    ref = exact.step(State.from_floats(theta, m, v, 3), g, h, after).as_float64()
    for name in ("theta", "m", "v"):
        assert np.array_equal(getattr(handed, name).to_float64(), ref[name])  # bitwise: both round the exact value
        assert np.array_equal(getattr(with_code, name).to_float64(), ref[name])
    assert not np.array_equal(canonical.theta.to_float64(), handed.theta.to_float64())


def test_shared_scalars_are_the_ones_each_module_uses():
    """decay_scale_factor and step_size: one definition, in binary64 and in mpmath alike."""
    import mpmath

    h = Hyper(lr=0.1, weight_decay=0.25)
    for variant, scale, size in [(Variant(), 0.1, 0.1), (Variant(decay_scale="independent"), 1.0, 0.1),
                                 (Variant(decay_scale="scheduled", schedule_multiplier=0.5), 0.5, 0.05)]:
        assert hyper.decay_scale_factor(h, variant) == scale
        assert hyper.step_size(h, variant) == 0.1 * (0.5 if variant.decay_scale == "scheduled" else 1.0)
        assert steps.decay_factor(h, variant) == 1 - mpmath.mpf(hyper.decay_scale_factor(h, variant)) * 0.25
        assert abs(float(steps.learning_rate(h, variant)) - size) < 1e-17


# --- canonical_for: the needs= of properties whose closed form is canonical -----------------------


def _caps(variant=CANONICAL):
    return Capabilities(name="x", modes=frozenset({"adamw"}), dtypes=frozenset({"float64"}),
                        compute={"float64": "float64"}, variant=variant)


def test_canonical_for_says_which_knob_departs():
    needs = canonical_for("bias_correction", "decay_scale")
    assert needs(_caps()) is None
    assert needs(_caps(Variant(eps_placement="hat"))) is None  # a knob the closed form does not use
    reason = needs(_caps(Variant(bias_correction=False)))
    assert reason == ("the declared variant departs from canonical in bias_correction = False (VAR-5), "
                      "and this clause's closed form is canonical")
    both = needs(_caps(Variant(bias_correction=False, decay_scale="independent")))
    assert "bias_correction = False (VAR-5), decay_scale = 'independent' (VAR-3)" in both


def test_canonical_for_accepts_values_under_which_the_form_still_holds():
    needs = canonical_for("bias_correction", "decay_scale", decay_scale=["independent"])
    assert needs(_caps(Variant(decay_scale="independent"))) is None
    assert "decay_scale = 'scheduled'" in needs(_caps(Variant(decay_scale="scheduled")))
    with pytest.raises(ValueError, match="no variant knob"):
        canonical_for("grad_clip")
    with pytest.raises(ValueError, match="not values of the knob"):
        canonical_for("decay_scale", decay_scale=["sometimes"])
    with pytest.raises(ValueError, match="not among the knobs"):
        canonical_for("decay_order", decay_scale=["independent"])
