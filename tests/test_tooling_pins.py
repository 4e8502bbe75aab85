"""ruff is pinned to one version in the dev extra, tox's lint env and the pre-commit hook."""

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
