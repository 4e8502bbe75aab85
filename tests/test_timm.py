"""timm's AdamWLegacy (adapters/timm_adamw.py): the adapter runs it as users do, and what it
gets wrong is shown in plain timm code, loaded as the adapter loads it (its module alone; timm's
package __init__ needs torchvision). Each reproduction asserts today's behaviour, so it fails
once timm changes: then drop the matching known-deviation entry and README row."""

import importlib.util
import subprocess
import sys
import textwrap

import pytest
from third_party import ci_report, excused_labels

pytest.importorskip("torch", reason="torch is an optional extra: pip install 'adamspec[torch]'")
if importlib.util.find_spec("timm") is None:
    pytest.skip("timm is not installed: pip install --no-deps timm==1.0.31", allow_module_level=True)

_LOAD = """
    import importlib.util, pathlib, sys, types
    root = pathlib.Path(importlib.util.find_spec("timm").submodule_search_locations[0]) / "optim"
    pkg = types.ModuleType("timm_optim"); pkg.__path__ = [str(root)]; sys.modules["timm_optim"] = pkg
    spec = importlib.util.spec_from_file_location("timm_optim.adamw", root / "adamw.py")
    mod = importlib.util.module_from_spec(spec); sys.modules[spec.name] = mod; spec.loader.exec_module(mod)
    import torch
"""


def _plain(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(_LOAD) + textwrap.dedent(code)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_adamw_legacy_accepts_any_weight_decay_and_infinite_lr_and_eps():
    """Found by VAL-1, VAL-2, VAL-4 (validation) on timm.adamw.*: every row of the must-reject
    table is refused except lr = inf, eps = inf and weight_decay = −0.01, NaN, inf."""
    code = """
        def accepted(**kw):
            try:
                mod.AdamWLegacy([torch.nn.Parameter(torch.zeros(2))], **kw)
                return True
            except ValueError:
                return False
        inf, nan = float("inf"), float("nan")
        print([accepted(lr=inf), accepted(eps=inf), accepted(weight_decay=-0.01), accepted(weight_decay=nan),
               accepted(weight_decay=inf), accepted(lr=-1.0), accepted(eps=nan), accepted(betas=(1.0, 0.9))])
    """
    assert _plain(code) == "[True, True, True, True, True, False, False, False]"


@pytest.mark.parametrize("path", ["forloop", "foreach"])
def test_timm_adamw_conforms_at_ci_with_exactly_its_known_deviations(path, tmp_path):
    doc = ci_report(f"timm.adamw.{path}", tmp_path)
    assert excused_labels(doc) == {"VAL-1 lr=inf", "VAL-2 eps=inf", "VAL-4 weight_decay=-0.01",
                                   "VAL-4 weight_decay=nan", "VAL-4 weight_decay=inf"}
    assert sum(p["verdict"] == "pass" for p in doc["properties"]) >= 20


def test_loading_the_optimizer_leaves_timm_itself_unimported():
    code = """
        from adamspec.adapters.timm_adamw import load_adamw_legacy
        cls = load_adamw_legacy()
        print(cls.__name__, "timm" in sys.modules, "torchvision" in sys.modules)
    """
    out = subprocess.run([sys.executable, "-c", "import sys\n" + textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["AdamWLegacy", "False", "False"]
