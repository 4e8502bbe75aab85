"""Report rows of a failed step: the one place judging's ``Evidence`` becomes ``results.Element``s.

Each row is one element TestFloat-style: its inputs, the exact result (to 30 digits), the
allowed error C·B, what the implementation stored, and the error in ULPs and as a fraction of
the bound. The runner calls this when it reports a counterexample, not while a property judges.
"""

from __future__ import annotations

import numpy as np

from adamspec.conformance.judge import Evidence, fresh
from adamspec.conformance.results import Element
from adamspec.reference.bound import C


def worst_elements(evidence: Evidence, limit: int = 3) -> tuple[Element, ...]:
    """The worst of the picked (output, flat indices) of a judgement, with their inputs."""
    judgement, before, grad, param = evidence.judgement, evidence.before, evidence.grad, evidence.param
    out = []
    for name, flats in evidence.picks:
        meas = judgement.outputs[name]
        order = flats[np.argsort(-np.nan_to_num(meas.fraction.reshape(-1)[flats], nan=np.inf))]
        for flat in order[:limit]:
            idx = np.unravel_index(flat, np.shape(before.theta)) if np.ndim(before.theta) else ()
            inputs = {"theta": float(np.asarray(before.theta, np.float64).reshape(-1)[flat]),
                      "g": float(np.asarray(grad, np.float64).reshape(-1)[flat])}
            for k in ("m", "v", "vmax"):
                a = getattr(before, k)
                inputs[k] = 0.0 if fresh(before) or a is None else float(
                    np.asarray(a, np.float64).reshape(-1)[flat])
            exact = judgement.exact[name].reshape(-1)[flat]
            out.append(Element(
                output=name, index=tuple(int(i) for i in idx), param=param, inputs=inputs,
                expected=float(exact), expected_digits=judgement.digits(name, flat),
                bound=float(C * judgement.bounds[name].reshape(-1)[flat]),
                got=float(judgement.got[name].reshape(-1)[flat]),
                ulps=float(meas.ulps.reshape(-1)[flat]), fraction=float(meas.fraction.reshape(-1)[flat]),
            ))
        if len(out) >= limit:
            break
    return tuple(out[:limit])
