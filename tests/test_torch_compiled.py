"""torch.compile'd Adam/AdamW (SPEC API-*, #9): it conforms, and torch 2.13's FX-graph-cache
defect — which the adapter avoids by switching that cache off — is real and caught by the suite."""

import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch", reason="torch is an optional extra: pip install 'adamspec[torch]'")

from adamspec.adapters import torch_compiled  # noqa: E402
from adamspec.adapters.registry import builtin_names, load_adapter, sweep_exclusions, unavailable_reason  # noqa: E402
from adamspec.conformance.runner import run, select  # noqa: E402


def _live_failures(result):
    return [f"{v.clause}:{v.verdict}:{v.reason}" for v in result.verdicts
            if v.verdict in ("fail", "error") and not v.expected_failure]


def test_compiled_adamw_conforms_at_ci():
    result = run(load_adapter("torch.adamw.compiled"), "ci")
    assert _live_failures(result) == []
    assert result.verdict == "conformant"
    assert {v.clause for v in result.verdicts if v.expected_failure} == {"VAL-1"}  # torch's own inf check


def test_compiled_adam_l2_conforms_at_ci():
    """Adam and coupled L2 (the L2 clauses, the one-step agreement and the first step)."""
    clauses = ["AD-1", "AD-7", *sorted({p.clause for p in select() if p.clause.startswith("L2-")})]
    result = run(load_adapter("torch.adam.compiled"), "ci", clauses=clauses)
    assert _live_failures(result) == []
    assert any(v.verdict == "pass" and v.clause.startswith("L2-") for v in result.verdicts)


_STALE_SCALAR = textwrap.dedent("""
    import torch

    def f(x, y, b):
        return (x * b).addcmul(y, y, value=1 - b)   # the shape of v's update: β·v + (1 − β)·g²

    cf = torch.compile(f, dynamic=True)
    print([round(cf(torch.ones(1), torch.ones(1), b).item(), 4) for b in (0.9, 0.0, 0.5)])
""")


@pytest.mark.parametrize("cache, expected", [("1", "[1.0, 0.1, 0.6]"), ("0", "[1.0, 1.0, 1.0]")])
def test_torch_fx_graph_cache_returns_code_for_a_stale_float(tmp_path, cache, expected):
    """Plain torch, no adamspec: with inductor's FX graph cache on (its default), a compiled
    function called with a new float reuses 1 − b from the first call; eager gives 1.0 each
    time. When this starts failing, torch has fixed it: update the README's known deviations
    and let the adapter use the cache again (adapters/torch_compiled.py, _FX_GRAPH_CACHE)."""
    env = {"TORCHINDUCTOR_CACHE_DIR": str(tmp_path), "TORCHINDUCTOR_FX_GRAPH_CACHE": cache,
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", _STALE_SCALAR], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == expected


def test_the_suite_catches_the_cache_defect(monkeypatch, tmp_path):
    """With the cache on, two parameter groups whose β₂ differ get one group's 1 − β₂:
    the groups property (GRP-1) fails, naming its clause."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(torch_compiled, "_FX_GRAPH_CACHE", True)
    try:
        result = run(load_adapter("torch.adamw.compiled"), "ci", clauses=["GRP-1"])
    finally:
        torch._dynamo.reset()  # no entry compiled with the cache on survives this test
    [v] = result.verdicts
    assert v.verdict == "fail" and v.counterexample is not None and v.clause == "GRP-1"


def test_cuda_paths_are_listed_and_explain_themselves_without_a_gpu():
    names = builtin_names()
    cuda = [n for n in names if ".cuda-" in n]
    assert sorted(cuda) == sorted(f"torch.{f}.cuda-{p}" for f in ("adam", "adamw")
                                  for p in ("forloop", "foreach", "fused", "capturable", "compiled"))
    for n in cuda:
        why = unavailable_reason(load_adapter(n))
        assert (why is None) == torch.cuda.is_available()
        if why:
            assert "CUDA" in why and n in sweep_exclusions() and n not in builtin_names(sweep=True)
    assert "torch.adamw.compiled" in sweep_exclusions()
