"""The built-in eager torch adapters through the engine, as `adamspec run` runs them: each conforms
at `ci`, shows exactly the known deviations its entries name, and no entry is stale — so a fixed
deviation (or a new one) in torch shows up here (README "Known deviations")."""

import pytest

torch = pytest.importorskip("torch", reason="torch is an optional extra: pip install 'adamspec[torch]'")

from adamspec.adapters.registry import load_adapter  # noqa: E402
from adamspec.conformance.runner import run  # noqa: E402

VALIDATION = {"VAL-1 lr=inf", "VAL-2 eps=inf", "VAL-4 weight_decay=inf"}
FUSED = {"strided parameters (dense run)", "transposed parameters (memory order)", "AMS-1"}


@pytest.mark.parametrize("name", [f"torch.{f}.{p}" for f in ("adam", "adamw")
                                  for p in ("forloop", "foreach", "fused")])
def test_builtin_torch_adapter_conforms_with_exactly_its_known_deviations(name):
    result = run(load_adapter(name), "ci")
    bad = [(v.property, v.verdict, v.reason, [c.message for c in v.failures]) for v in result.verdicts
           if v.verdict in ("fail", "error")]
    assert result.verdict == "conformant", bad
    assert result.warnings == []
    seen = {x.label for v in result.verdicts for x in v.excused}
    assert seen == VALIDATION | (FUSED if name.endswith(".fused") else set())
    # headroom is measured on the steps within the bound: an excused step (fused's strided θ is
    # off by ~1e39 bounds) does not count, so every passing property stays at or under 1
    headroom = {v.property: v.max_bound_fraction for v in result.verdicts
                if v.verdict == "pass" and v.max_bound_fraction is not None}
    assert headroom and max(headroom.values()) <= 1.0, headroom
