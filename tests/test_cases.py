"""Cases serialise exactly, their typed ``args`` included, and old payloads still read."""

import json

import numpy as np
import pytest

from adamspec.conformance.cases import FORMAT, Case, GroupCase, ParamCase
from adamspec.reference.hyper import Hyper


def _case(**kw) -> Case:
    theta = np.array([1.0, -0.5], np.float32)
    return Case((GroupCase(Hyper(), (ParamCase(theta),)),), ((np.ones(2, np.float32),),), **kw)


def test_args_round_trip_exactly_and_typed():
    case = _case(note="people only", args={"scale": 0.1, "n": 3, "must_reject": "lr=inf"})
    back = Case.from_json(case.to_json())
    assert back.args == case.args
    assert [type(v) for v in back.args.values()] == [float, int, str]
    assert back.note == "people only"
    assert json.loads(case.to_json())["format"] == FORMAT


def test_args_refuse_untyped_values():
    with pytest.raises(TypeError):
        _case(args={"flag": True}).to_json()


@pytest.mark.parametrize(("note", "args"), [("scale=1024.0", {"scale": 1024.0}),
                                            ("must_reject=beta2=1.0", {"must_reject": "beta2=1.0"}),
                                            ("explicit: sizes", {})])
def test_format_1_notes_become_args(note, args):
    obj = json.loads(_case().to_json())
    obj["format"], obj["note"] = "adamspec-case/1", note
    del obj["args"]
    back = Case.from_json(json.dumps(obj))
    assert back.args == args
    assert back.note == ("" if args else note)
