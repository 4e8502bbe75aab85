"""MLX's Adam and AdamW (adapters/mlx_adam.py): the adapter runs them as MLX's documentation does,
and its findings and its one declared departure are shown in plain MLX, in one fresh interpreter.
Each reproduction asserts today's behaviour, so it fails once MLX changes: then drop the matching
known-deviation entry and README row, or change the declaration."""

import importlib.util

import pytest
from third_party import Repros, ci_report, excused_labels

if importlib.util.find_spec("mlx") is None:
    pytest.skip("mlx is not installed: pip install -c constraints.txt 'adamspec[mlx]'", allow_module_level=True)

repros = Repros()


@pytest.fixture(scope="module")
def plain() -> dict[str, str]:
    return repros.run("import mlx.core as mx, mlx.optimizers as optim")


@repros.of("""
    def first_theta(**kw):
        opt = optim.Adam(learning_rate=0.01, **kw)
        p = {"w": mx.array([0.0])}
        p = opt.apply_gradients({"w": mx.array([1.0])}, p)
        return round(p["w"].item(), 6)
    print(first_theta(), first_theta(bias_correction=True))
""")
def test_adam_is_not_bias_corrected_by_default(plain):
    """Declared (VAR-5 bias_correction = false on mlx.adam|adamw): the documented default. The
    first step from g = 1 is −α·(1 − β₁)/(√(1 − β₂) + ε) = −3.16·α, not −α as with the correction."""
    assert plain["test_adam_is_not_bias_corrected_by_default"] == "-0.031623 -0.01"


@repros.of("""
    def accepted(cls, **kw):
        try:
            cls(**({"learning_rate": 1e-3} | kw))
            return True
        except ValueError:
            return False
    inf, nan = float("inf"), float("nan")
    print([accepted(optim.Adam, learning_rate=-1.0), accepted(optim.Adam, learning_rate=nan),
           accepted(optim.Adam, learning_rate=inf), accepted(optim.Adam, eps=inf),
           accepted(optim.AdamW, weight_decay=-0.01), accepted(optim.AdamW, weight_decay=nan),
           accepted(optim.Adam, eps=-1e-8), accepted(optim.Adam, betas=[1.0, 0.9]),
           accepted(optim.Adam, betas=[0.9, nan])])
""")
def test_validation_checks_betas_and_eps_only(plain):
    """Found by VAL-1, VAL-2, VAL-4: the learning rate and the weight decay are not checked, ε only
    for sign (so inf constructs); β outside [0, 1) and NaN are refused."""
    assert plain["test_validation_checks_betas_and_eps_only"] == \
        "[True, True, True, True, True, True, False, False, False]"


@repros.of("""
    opt = optim.Adam(learning_rate=0.1, betas=[0.999999, 0.0], eps=1e-8, bias_correction=True)
    p = {"w": mx.array([0.0, 0.5], mx.float16)}
    p = opt.apply_gradients({"w": mx.array([-1.0, 0.0], mx.float16)}, p)
    print([float(x) for x in p["w"].astype(mx.float32)])
""")
def test_bias_corrected_float16_step_size_overflows(plain):
    """Found by the selftest's seeds (AD-1, AD-7, AD-10, GRP-4) on mlx.*.bias-corrected in float16:
    α/(1 − β₁^t) = 0.1/1e-6 is formed first and cast to float16, where it is inf; θ becomes inf
    (exact: 0.1) and, where m = 0, NaN (exact: 0.5)."""
    assert plain["test_bias_corrected_float16_step_size_overflows"] == "[inf, nan]"


@pytest.mark.parametrize("name, excused", [
    ("mlx.adam", {"VAL-1", "VAL-2 eps=inf"}),
    ("mlx.adamw.bias-corrected", {"VAL-1", "VAL-2 eps=inf", "VAL-4"}),
])
def test_mlx_conforms_at_ci_with_exactly_its_known_deviations(name, excused, tmp_path):
    doc = ci_report(name, tmp_path)
    assert excused_labels(doc) == excused
    verdicts = {p["property"]: p["verdict"] for p in doc["properties"]}
    for prop in ("no_gradient", "in_place", "resume"):
        assert verdicts[prop] == "not-applicable", (prop, verdicts[prop])
    # the declared variant: first_step's closed form assumes bias correction
    assert verdicts["first_step"] == ("not-applicable" if name == "mlx.adam" else "pass")
    assert sum(v == "pass" for v in verdicts.values()) >= 12
