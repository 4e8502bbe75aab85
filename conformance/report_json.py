"""The machine-readable report: a versioned JSON document (schema ``adamspec-report/2``).

The document is described by the JSON Schema (draft 2020-12) shipped beside this module as
``report.schema.json`` (``schema()`` loads it). Its shape::

    {
      "schema": "adamspec-report/2",
      "adapter": "torch.adamw.fused",          # adapter name
      "capabilities": {...},                    # the adapter's capability record, as given
      "profile": "ci", "seed": 1234,            # also inside "environment" unless it says otherwise
      "environment": {...},                     # python, numpy, torch, device, adamspec, spec, ...
      "verdict": "conformant" | "non-conformant" | "error",
      "counts": {"pass": n, "fail": n, "not-applicable": n, "error": n, "excused": n},
      "seconds": 12.3,                          # the run's wall time
      "warnings": ["..."],                      # e.g. known-deviation entries that excused nothing
      "properties": [                           # one object per property verdict, in run order
        {"id": "AW-3", "clauses": ["AW-3", ...], "property": "...", "title": "...",
         "requirement": "...", "verdict": "pass" | "fail" | "not-applicable" | "error",
         "refuted": ["VAL-3", ...],             # the clauses its failures refute
         "examples": n, "max_ulp": x | null, "max_bound_fraction": x | null,
         "exempt_elements": n, "seconds": x, "reason": "...",
         "failures": [{...}, ...],              # counterexamples no known deviation excuses
         "excused": [{"label": "VAL-1 lr=inf", "reason": "...", "counterexample": {...}}, ...],
         "counterexample": {...} | null, "replay": "..." | null}   # the first failure, for convenience
      ]
    }

Version 2 (against 1): "clauses" is "properties"; "expected_failure" gave way to "failures",
"excused" and "refuted"; counts gained "excused"; "warnings" is new; a counterexample's
"clause" is the one clause it refutes, and it gained "kind", "row", "zero_dim" and "layout".

A counterexample carries every field of ``results.Counterexample``; its elements carry every
field of ``results.Element`` plus ``inputs_hex``, ``expected_hex``, ``bound_hex`` and ``got_hex``
(``float.hex`` of the binary64 value, C99 hex, exact) and, for float32/bfloat16/float16 storage,
``inputs_bits`` and ``got_bits`` (the raw bits in the storage dtype, ``"0x3f80"``; null for
float64 storage or a value the storage dtype cannot hold).

Numbers. JSON has no infinities or NaN, so every non-finite float anywhere in the document is
written as one of the strings ``"inf"``, ``"-inf"``, ``"nan"`` (which ``float()`` reads back);
every finite float is a JSON number that reads back to the same binary64 value. Values of
``environment``, ``capabilities`` and ``hyper`` are converted the same way; tuples and sets become
lists, numpy scalars and arrays plain numbers and lists, anything else its ``str``.

Versioning. ``"schema"`` names the document's version. Adding an optional field keeps
``adamspec-report/2`` together with an updated schema file; renaming, removing or changing the
meaning of a field makes ``adamspec-report/2``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from functools import cache
from importlib import resources

import numpy as np

from adamspec.conformance.report_text import hex64, requirement_of, storage_bits, total_seconds
from adamspec.conformance.results import Counterexample, Element, PropertyVerdict, RunResult

SCHEMA = "adamspec-report/2"
SCHEMA_FILE = "report.schema.json"


@cache
def _schema_text() -> str:
    return resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


def schema() -> dict:
    """The JSON Schema (draft 2020-12) of the document ``to_json`` writes."""
    return json.loads(_schema_text())


def json_float(x) -> float | str:
    """A float as JSON can hold it: the number itself, or "inf", "-inf", "nan"."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _opt_float(x) -> float | str | None:
    return None if x is None else json_float(x)


def plain(x):
    """Any value turned into JSON-safe data (see the module docstring for the rules)."""
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return json_float(x)
    if isinstance(x, Mapping):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return plain(x.tolist())
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, (set, frozenset)):
        return sorted((plain(v) for v in x), key=repr)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return plain({f.name: getattr(x, f.name) for f in dataclasses.fields(x)})
    return str(x)


def element_dict(e: Element, storage: str) -> dict:
    return {
        "output": e.output,
        "index": [int(i) for i in e.index],
        "param": int(e.param),
        "inputs": {k: json_float(x) for k, x in e.inputs.items()},
        "inputs_hex": {k: hex64(x) for k, x in e.inputs.items()},
        "inputs_bits": {k: storage_bits(x, storage) for k, x in e.inputs.items()},
        "expected": json_float(e.expected),
        "expected_hex": hex64(e.expected),
        "expected_digits": e.expected_digits,
        "bound": json_float(e.bound),
        "bound_hex": hex64(e.bound),
        "got": json_float(e.got),
        "got_hex": hex64(e.got),
        "got_bits": storage_bits(e.got, storage),
        "ulps": json_float(e.ulps),
        "fraction": json_float(e.fraction),
    }


def counterexample_dict(cx: Counterexample) -> dict:
    return {
        "clause": cx.clause,
        "requirement": cx.requirement,
        "adapter": cx.adapter,
        "message": cx.message,
        "hyper": plain(cx.hyper),
        "storage": cx.storage,
        "step": None if cx.step is None else int(cx.step),
        "elements": [element_dict(e, cx.storage) for e in cx.elements],
        "case_json": cx.case_json,
        "replay": cx.replay,
        "kind": cx.kind,
        "row": cx.row,
        "zero_dim": cx.zero_dim,
        "layout": cx.layout,
    }


def verdict_dict(v: PropertyVerdict) -> dict:
    cx = v.counterexample
    return {
        "id": v.clause,
        "clauses": list(v.clauses) or [v.clause],
        "property": v.property,
        "title": v.title,
        "requirement": requirement_of(v.clause),
        "verdict": v.verdict,
        "examples": int(v.examples),
        "max_ulp": _opt_float(v.max_ulp),
        "max_bound_fraction": _opt_float(v.max_bound_fraction),
        "exempt_elements": int(v.exempt_elements),
        "seconds": json_float(v.seconds),
        "reason": v.reason,
        "refuted": list(v.clauses_refuted),
        "failures": [counterexample_dict(c) for c in v.failures],
        "excused": [{"label": x.label, "reason": x.reason, "counterexample": counterexample_dict(x.counterexample)}
                    for x in v.excused],
        "counterexample": None if cx is None else counterexample_dict(cx),
        "replay": (cx.replay or None) if cx is not None else None,
    }


def to_dict(result: RunResult) -> dict:
    """The report as plain JSON-safe data (schema ``adamspec-report/2``)."""
    environment = plain(dict(result.environment))
    environment.setdefault("profile", result.profile)
    environment.setdefault("seed", plain(result.seed))
    return {
        "schema": SCHEMA,
        "adapter": result.adapter,
        "capabilities": plain(dict(result.capabilities)),
        "profile": result.profile,
        "seed": plain(result.seed),
        "environment": environment,
        "verdict": result.verdict,
        "counts": result.counts(),
        "seconds": json_float(total_seconds(result)),
        "warnings": list(result.warnings),
        "properties": [verdict_dict(v) for v in result.verdicts],
    }


def to_json(result: RunResult, indent: int | None = 2) -> str:
    """The report as a JSON text; strictly valid JSON (no NaN/Infinity literals)."""
    return json.dumps(to_dict(result), indent=indent, ensure_ascii=False, allow_nan=False) + "\n"
