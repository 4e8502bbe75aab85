"""optax's adam and adamw (adapters/optax_adam.py): the adapter runs them as a training loop does
(inject_hyperparams, a jitted step), and each finding is shown in plain optax, in one fresh
interpreter with x64 on as the adapter has it. Each reproduction asserts today's behaviour, so it
fails once optax changes: then drop the matching known-deviation entry and README row."""

import importlib.util

import pytest
from third_party import Repros, ci_report, excused_labels

if importlib.util.find_spec("optax") is None or importlib.util.find_spec("jax") is None:
    pytest.skip("optax is not installed: pip install -c constraints.txt 'adamspec[optax]'", allow_module_level=True)

repros = Repros()


@pytest.fixture(scope="module")
def plain() -> dict[str, str]:
    return repros.run("import jax, jax.numpy as jnp, numpy as np, optax", "jax.config.update('jax_enable_x64', True)")


@repros.of("""
    p = [jnp.ones(2, jnp.float32)]
    built = []
    for make in (lambda: optax.adam(learning_rate=-1.0), lambda: optax.adam(1e-3, eps=float("nan")),
                 lambda: optax.adam(1e-3, b1=1.0), lambda: optax.adam(1e-3, b2=float("inf")),
                 lambda: optax.adamw(1e-3, weight_decay=-0.01)):
        opt = make()
        u, _ = opt.update([jnp.ones(2, jnp.float32)], opt.init(p), p)
        built.append(True)
    print(built)
""")
def test_no_hyperparameter_is_validated(plain):
    """Found by VAL-1 … VAL-4: a negative lr, a NaN ε, β₁ = 1, β₂ = inf and a negative λ all
    build, and their updates run."""
    assert plain["test_no_hyperparameter_is_validated"] == "[True, True, True, True, True]"


@repros.of("""
    def l2(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
        return optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(learning_rate, b1, b2, eps))
    p = [jnp.array([jnp.inf, 1.0], jnp.float32)]
    def mu(opt):
        _, s = opt.update([jnp.ones(2, jnp.float32)], opt.init(p), p)
        first = next(x for x in jax.tree.leaves(s) if getattr(x, "shape", None) == (2,))  # mu, the first moment
        return [float(x) for x in first]
    print(mu(l2(1e-3)), mu(optax.inject_hyperparams(l2)(learning_rate=1e-3, weight_decay=0.0)))
""")
def test_a_zero_decay_held_as_an_array_makes_an_infinite_theta_a_nan_gradient(plain):
    """Found by NF-2 on optax.adam's L2 composition: with λ = 0.0 a Python float,
    add_decayed_weights is skipped and m = 0.1·g; with the same λ held as an array (as
    inject_hyperparams holds it) it adds 0·θ and θ = inf gives m = NaN. (The other element shows
    the held precision: 1 − β₁ formed from β₁ held in float32, 0.100000024.)"""
    assert plain["test_a_zero_decay_held_as_an_array_makes_an_infinite_theta_a_nan_gradient"] == \
        "[0.10000000149011612, 0.10000000149011612] [nan, 0.10000002384185791]"


@repros.of("""
    def l2(learning_rate, b1, b2, eps, weight_decay):
        return optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(learning_rate, b1, b2, eps))
    hp = dict(learning_rate=1e-4, b1=0.0, b2=0.9, eps=1e-30)
    grads = ([-0.54784673, 0.92085314, 1.836106], [1.9338895, -1.253081, -1.6510223])
    def run(opt, jit):
        p = [jnp.zeros(3, jnp.float32)]; s = opt.init(p)
        def upd(p, g, s):
            u, s = opt.update(g, s, p)
            return optax.apply_updates(p, u), s
        f = jax.jit(upd) if jit else upd
        for g in grads:
            p, s = f(p, [jnp.array(g, jnp.float32)], s)
        return np.asarray(p[0])
    adam, coupled = optax.inject_hyperparams(optax.adam)(**hp), optax.inject_hyperparams(l2)(**hp, weight_decay=0.0)
    a, b = run(adam, True), run(coupled, True)
    print(np.array_equal(run(adam, False), run(coupled, False)), np.array_equal(a, b),
          0 < int(np.abs(a.view(np.int32) - b.view(np.int32)).max()) <= 64)
""")
def test_the_jitted_l2_composition_at_zero_decay_is_not_bitwise_adam(plain):
    """Found by AD-13: eagerly the two agree bitwise; jitted, each is its own XLA program and they
    differ by a few units in the last place (13 here; both within the bound: agreement passes)."""
    assert plain["test_the_jitted_l2_composition_at_zero_decay_is_not_bitwise_adam"] == "True False True"


@repros.of("""
    p = [jnp.zeros(2, jnp.bfloat16)]
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
    s = opt.init(p)
    u, _ = opt.update([jnp.ones(2, jnp.bfloat16)], s, p)
    print(float(s.hyperparams["b2"]), [float(x) for x in optax.apply_updates(p, u)[0]])
""")
def test_bfloat16_parameters_hold_beta2_as_one(plain):
    """Why bfloat16 is not declared: inject_hyperparams casts the hyperparameters to the
    parameters' dtype, β₂ = 0.999 becomes 1.0 in bfloat16, 1 − β₂^t = 0 and the first step is NaN."""
    assert plain["test_bfloat16_parameters_hold_beta2_as_one"] == "1.0 [nan, nan]"


_EXCUSED = {"adam": {"VAL-1", "VAL-2", "VAL-3", "VAL-4", "AD-13 (decay evaluated at zero)",
                     "NF-2 (decay evaluated at zero)"},
            "adamw": {"VAL-1", "VAL-2", "VAL-3", "VAL-4"}}


@pytest.mark.parametrize("family", ["adam", "adamw"])
def test_optax_conforms_at_ci_with_exactly_its_known_deviations(family, tmp_path):
    doc = ci_report(f"optax.{family}", tmp_path)
    assert excused_labels(doc) == _EXCUSED[family]
    verdicts = {p["property"]: p["verdict"] for p in doc["properties"]}
    # what optax has no hook for is not applicable, never passed
    for name in ("no_gradient", "in_place", "gradient_untouched", "resume", "amsgrad_monotone"):
        assert verdicts[name] == "not-applicable", (name, verdicts[name])
    assert sum(v == "pass" for v in verdicts.values()) >= 14
