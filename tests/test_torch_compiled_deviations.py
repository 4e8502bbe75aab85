"""Deviations of torch 2.13's compiled ``opt.step`` found by the suite on the compiled adapters
(issue 13), each reproduced in plain torch (no adamspec) in a fresh process. Each test asserts
today's wrong output next to eager's right one, so it fails once torch fixes the defect: then
drop the matching known-deviation entry (or, for the lerp weight, the adapter's moment_weight
declaration) and README row."""

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch", reason="torch is an optional extra: pip install 'adamspec[torch]'")


def _run(tmp_path, code):
    env = {"TORCHINDUCTOR_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


_LR0_NAN = """
    import torch

    def theta(compiled, shape=(), g=0.0, **kw):
        p = torch.nn.Parameter(torch.zeros(shape))
        opt = torch.optim.AdamW([p], **({"lr": 0.0} | kw))
        p.grad = torch.full(shape, g)
        (torch.compile(opt.step) if compiled else opt.step)()
        return p.detach().flatten()[0].item()

    print([theta(False), theta(True), theta(True, (3,)), theta(True, lr=torch.tensor(0.0)),
           theta(True, g=1.0), theta(True, foreach=True)])
"""


def test_compiled_forloop_step_with_lr_0_and_a_zero_gradient_makes_theta_nan(tmp_path):
    """Found by AD-11 (lr = 0 leaves θ unchanged) on torch.adam|adamw.compiled and
    compiled-tensor-lr: from fresh state, lr = 0 and g = 0 (so m = v = 0), the compiled for-loop
    step stores θ = NaN; eager leaves θ = 0. Any shape, float or tensor lr; g = 1 or the foreach
    step give 0."""
    assert _run(tmp_path, _LR0_NAN) == "[0.0, nan, nan, nan, 0.0, 0.0]"


_FOREACH_LERP_BF16 = """
    import torch

    def m_after(compiled, foreach):
        p = torch.nn.Parameter(torch.zeros(3, dtype=torch.bfloat16))
        opt = torch.optim.AdamW([p], lr=1e-4, betas=(0.001, 0.0), weight_decay=0.0, foreach=foreach)
        p.grad = torch.zeros(3, dtype=torch.bfloat16)
        opt.step()                                    # eager: creates the state
        opt.state[p]["exp_avg"].fill_(-1.0)           # m = -1, g = 0: m' = 0.001 * -1 = -0.001
        (torch.compile(opt.step) if compiled else opt.step)()
        return opt.state[p]["exp_avg"][0].item()

    print([m_after(False, True), m_after(True, False), m_after(True, True)])
"""


def test_compiled_foreach_step_rounds_the_lerp_weight_of_bfloat16_moments(tmp_path):
    """Declared by the adapter as moment_weight = "storage" (no longer an excused deviation).
    Found by AD-1, AD-10, AD-11, NOGRAD-1 on torch.adamw.compiled-foreach (AD-10 on
    torch.adam.compiled-foreach), bfloat16: with β₁ = 0.001, m = −1, g = 0 the compiled foreach
    step stores m = 0 instead of −0.001 (eager foreach, and the compiled for-loop, −0.000999): the
    ``_foreach_lerp_(exp_avgs, grads, 1 − β₁)`` weight 0.999 is rounded to bfloat16 (1.0), so m
    becomes g."""
    assert _run(tmp_path, _FOREACH_LERP_BF16) == "[-0.00099945068359375, -0.00099945068359375, 0.0]"


_FOREACH_LERP_FP16 = _FOREACH_LERP_BF16.replace("torch.bfloat16", "torch.float16")


def test_compiled_foreach_step_rounds_the_lerp_weight_of_float16_moments(tmp_path):
    """Found by AD-2 (element_independence) on torch.adamw.compiled-foreach, float16: the same
    rounding of the lerp weight 0.999 to the moments' dtype, here to 0.99902 (m = −2⁻¹⁰ instead
    of −0.001, ≈ 36 bounds off); eager foreach and the compiled for-loop step give −0.0010004."""
    assert _run(tmp_path, _FOREACH_LERP_FP16) == "[-0.0010004043579101562, -0.0010004043579101562, -0.0009765625]"


_FOREACH_0D_FLOAT64 = """
    import torch

    def m_after(compiled, shape, beta1):
        p = torch.nn.Parameter(torch.zeros(shape, dtype=torch.float64))
        opt = torch.optim.AdamW([p], lr=1e-4, betas=(beta1, 0.0), weight_decay=0.0, foreach=True)
        p.grad = torch.zeros(shape, dtype=torch.float64)
        opt.step()                                    # eager: creates the state
        opt.state[p]["exp_avg"].fill_(0.5)            # m = 0.5, g = 2
        p.grad = torch.full(shape, 2.0, dtype=torch.float64)
        (torch.compile(opt.step) if compiled else opt.step)()
        return round(opt.state[p]["exp_avg"].flatten()[0].item(), 12)

    print([m_after(False, (), 0.3), m_after(True, (), 0.3), m_after(True, (), 0.0),
           m_after(True, (1,), 0.3), m_after(True, (), 0.7)])
"""


def test_compiled_foreach_step_mirrors_the_lerp_of_a_0d_float64_parameter_at_beta1_at_most_half(tmp_path):
    """Found by AD-2 (agreement_one_step) on torch.adamw.compiled-foreach: for a 0-d float64
    parameter and β₁ ≤ ½ (lerp weight w = 1 − β₁ ≥ ½) the compiled foreach step stores
    m − β₁·(g − m) instead of m + (1 − β₁)·(g − m): with m = 0.5, g = 2, β₁ = 0.3 it stores 0.05
    (eager 1.55); at β₁ = 0 m is not updated at all (0.5). A 1-element parameter, and β₁ = 0.7,
    give the right m (1.55, 0.95). The known-deviation entry's model (mirrored_lerp) is this
    formula, so any other failure on such a parameter is still reported."""
    assert _run(tmp_path, _FOREACH_0D_FLOAT64) == "[1.55, 0.05, 0.5, 1.55, 0.95]"


_FOREACH_LERP_BF16_THETA = """
    import torch

    def theta(compiled):
        p = torch.nn.Parameter(torch.zeros(5, dtype=torch.bfloat16))
        opt = torch.optim.AdamW([p], lr=1e-3, betas=(0.001, 0.0), eps=0.1, weight_decay=0.0, foreach=True)
        p.grad = -torch.ones(5, dtype=torch.bfloat16)
        (torch.compile(opt.step) if compiled else opt.step)()
        return p[0].item()

    print([theta(False), theta(True)])
"""


def test_the_rounded_lerp_weight_shows_in_theta_alone(tmp_path):
    """Found by AD-8 (element_independence) on torch.adamw.compiled-foreach, bfloat16, fresh state:
    m rounds to the same bfloat16 either way (−1), but θ is computed from the unrounded m inside
    the kernel, so θ is one bfloat16 step off (0.00091171 for eager's 0.00090790, the exact
    0.000909 correctly rounded) — why the declared weight precision (Capabilities.moment_weight,
    SPEC DT-4) widens the bound of m, which θ's bound inherits."""
    assert _run(tmp_path, _FOREACH_LERP_BF16_THETA) == "[0.00090789794921875, 0.000911712646484375]"


_FORLOOP_0D_FLOAT64 = """
    import torch

    def after(compiled):
        p = torch.nn.Parameter(torch.tensor(1.0, dtype=torch.float64))
        opt = torch.optim.AdamW([p], lr=1e-4, betas=(0.3, 0.5), eps=0.1, weight_decay=0.0, foreach=False)
        p.grad = torch.zeros((), dtype=torch.float64)
        opt.step()                                    # eager: creates the state
        st = opt.state[p]
        st["exp_avg"].fill_(0.5); st["exp_avg_sq"].fill_(0.25); st["step"].fill_(3)
        with torch.no_grad():
            p.fill_(1.0)
        p.grad = torch.tensor(2.0, dtype=torch.float64)
        (torch.compile(opt.step) if compiled else opt.step)()
        return tuple(round(x.item(), 10) for x in (p, st["exp_avg"], st["exp_avg_sq"]))

    print([after(False), after(True)])
"""


def test_compiled_forloop_step_drops_the_gradient_from_the_moments_of_a_0d_float64_parameter(tmp_path):
    """Found by AD-2 (agreement_one_step) on torch.adamw.compiled once its entry carried a model:
    for a 0-d float64 parameter the compiled for-loop step keeps m (the lerp towards g is lost)
    and stores v = β₂·v (the addcmul of (1 − β₂)·g² is lost), then steps θ from those: with m =
    0.5, v = 0.25, g = 2, β = (0.3, 0.5) it stores (θ, m, v) = (0.9998916296, 0.5, 0.125); eager
    (0.9999026712, 1.55, 2.125). The entry's model is dropped_gradient."""
    assert _run(tmp_path, _FORLOOP_0D_FLOAT64) == "[(0.9999026712, 1.55, 2.125), (0.9998916296, 0.5, 0.125)]"


_LR0_NAN_WHERE_V_IS_0 = """
    import torch

    p = torch.nn.Parameter(torch.zeros(4))
    opt = torch.optim.AdamW([p], lr=0.0, betas=(0.5, 0.5), weight_decay=0.0)
    p.grad = torch.zeros(4)
    opt.step()                                        # eager: creates the state
    opt.state[p]["exp_avg"].copy_(torch.tensor([-1.0, 0.0, 1.0, 0.0]))
    opt.state[p]["exp_avg_sq"].copy_(torch.tensor([0.0, 0.0, 1e-30, 1e-40]))
    torch.compile(opt.step)()                         # g = 0: m_t = m/2, v_t = v/2
    print([str(x) for x in p.tolist()])
"""


def test_compiled_forloop_step_at_lr_0_makes_theta_nan_wherever_v_is_0(tmp_path):
    """Found by AD-11 on torch.adamw.compiled (bfloat16, m = −1, v = 0) once the lr = 0 entry
    carried a model: the NaN appears wherever the stored v_t is 0, whatever m_t (here −0.5 and 0),
    and not where v_t is tiny but positive (5e-31, a float32 subnormal 5e-41); eager leaves θ = 0."""
    assert _run(tmp_path, _LR0_NAN_WHERE_V_IS_0) == "['nan', 'nan', '0.0', '0.0']"
