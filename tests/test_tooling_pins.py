"""Tool and framework pins agree: ruff (dev extra, tox lint, pre-commit) and torch (extras, tox, constraints)."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_pins_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dev = project["optional-dependencies"]["dev"]
    (pyproject,) = [re.fullmatch(r"ruff==(\S+)", d).group(1) for d in dev if d.startswith("ruff")]
    tox = re.search(r"^\[testenv:lint\][^\[]*?^deps = ruff==(\S+)\s*$", (ROOT / "tox.ini").read_text(encoding="utf-8"),
                    re.M | re.S).group(1)
    hook = re.search(r"repo: https://github\.com/astral-sh/ruff-pre-commit\s+rev: v(\S+)",
                     (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8")).group(1)
    assert pyproject == tox == hook, {"pyproject.toml dev": pyproject, "tox.ini lint": tox, "pre-commit rev": hook}


def test_torch_is_pinned_to_one_version_everywhere():
    """Every place that can install torch names the same exact version (a CPU build here; any other
    version drags in CUDA wheels), and the constraints file for the third-party extras holds it."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    pins = {f"pyproject [{name}]": d for name, deps in extras.items() for d in deps if re.match(r"torch\b", d)}
    for i, line in enumerate((ROOT / "tox.ini").read_text(encoding="utf-8").splitlines()):
        pins.update({f"tox.ini:{i + 1}": d for d in re.findall(r"\btorch\S*", line) if d.startswith("torch=")})
    constraints = [x for x in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
                   if x.strip() and not x.startswith("#")]
    pins.update({f"constraints.txt:{c}": c for c in constraints})
    assert len(pins) >= 4 and set(pins.values()) == {"torch==2.13.0"}, pins


def test_timm_is_pinned_to_the_version_its_adapter_was_read_from():
    """README's set-up, CI and tox install the timm the adapter's capabilities were read from
    (adapters/timm_adamw.py), without dependencies."""
    from adamspec.adapters.timm_adamw import TIMM_VERSION

    places = {name: (ROOT / name).read_text(encoding="utf-8") for name in ("README.md", ".ci/run", "tox.ini")}
    for name, text in places.items():
        pins = re.findall(r"--no-deps timm==(\S+)", text)
        assert pins and set(pins) == {TIMM_VERSION}, (name, pins)


def test_third_party_extras_pin_the_versions_their_adapters_were_read_from():
    """Each third-party extra pins its library to the version its adapter declares, and the
    `ecosystem` extra (README's set-up, CI) names every such extra."""
    from adamspec.adapters.bitsandbytes_adam import BITSANDBYTES_VERSION
    from adamspec.adapters.keras_adam import KERAS_VERSION
    from adamspec.adapters.mlx_adam import MLX_VERSION
    from adamspec.adapters.optax_adam import JAX_VERSION, OPTAX_VERSION

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert f"bitsandbytes=={BITSANDBYTES_VERSION}" in extras["bitsandbytes"]
    assert {f"optax=={OPTAX_VERSION}", f"jax=={JAX_VERSION}", f"jaxlib=={JAX_VERSION}"} == set(extras["optax"])
    assert extras["mlx"] == [f"mlx[cpu]=={MLX_VERSION}"]
    assert f"keras=={KERAS_VERSION}" in extras["keras"] and f"jax=={JAX_VERSION}" in extras["keras"]
    assert extras["ecosystem"] == ["adamspec[bitsandbytes]", "adamspec[optax]", "adamspec[mlx]", "adamspec[keras]"]
    for name in ("README.md", ".ci/run"):
        assert 'pip install -c constraints.txt -e ".[test,ecosystem]"' in (ROOT / name).read_text(encoding="utf-8")
