"""Every knob value's outputs are the recorded ones, bit for bit (bench/knob_golden.py).

tests/fixtures/knob_golden.json was written before the knob code moved into reference/knobs/:
the exact step (each mpf's exact tuple), the double-double oracle (both halves and the fallback
count), the bound and the numpy implementation (binary64 hex) for cases that set every value of
every knob. Any change to what a knob value computes fails here, naming the case.
"""

import importlib.util
import json
from pathlib import Path

import pytest

from adamspec.reference.hyper import KNOBS

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("knob_golden", ROOT / "bench" / "knob_golden.py")
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)

RECORDED = json.loads(golden.FIXTURE.read_text())["cases"]


def test_the_inputs_are_the_recorded_ones_and_cover_every_value():
    assert [c["input"] for c in RECORDED] == golden.cases()
    covered = {(c["input"]["knob"], c["input"]["value"]) for c in RECORDED}
    assert covered == {(k, v) for k, kn in KNOBS.items() for v in kn.values}


@pytest.mark.parametrize("i", range(len(RECORDED)), ids=lambda i: f"{RECORDED[i]['input']['knob']}="
                         f"{RECORDED[i]['input']['value']}-{i}")
def test_outputs_are_bitwise_the_recorded_ones(i):
    case = RECORDED[i]
    got = golden.compute(case["input"])
    for part in ("exact", "fast", "bound", "numpy"):
        assert got[part] == case["output"][part], (i, part, case["input"])
