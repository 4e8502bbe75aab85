"""Shapes, layouts and dtypes: every element of every tensor is updated — 0-d, empty, odd
sizes, past a 65,536-element chunk, strided and transposed (STATE-4) — and the state is
stored in the parameter's dtype (DT-1)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from adamspec.conformance import strategies as S
from adamspec.conformance.cases import Case, GroupCase, ParamCase
from adamspec.conformance.execute import execute
from adamspec.conformance.judge import judge_trace
from adamspec.conformance.registry import Violation, prop
from adamspec.reference.hyper import Hyper

BIG_SHAPES = [(65537,), (2**16 + 3,), (257, 3), (1025,), (129,)]


@st.composite
def _shapes_layouts(draw, caps):
    dtype = draw(S.dtypes(caps))
    h = draw(S.hypers(caps))
    shapes = draw(st.lists(st.sampled_from(S.shapes_for(caps, [(), (1,), (0,), (5,), (4, 3), (3, 5), *BIG_SHAPES])),
                           min_size=1, max_size=3))
    params, grads = [], []
    for shape in shapes:
        layouts = S.layouts_for(caps, ["contiguous", "strided"] + (["transposed"] if len(shape) == 2 else []))
        layout = draw(st.sampled_from(layouts))
        theta = draw(S.arrays(dtype, shape, S.theta_values(dtype, h)))
        params.append(ParamCase(theta, layout))
        grads.append(draw(S.arrays(dtype, shape, S.elements(dtype, -3, 1))))
    second = tuple(g[::-1].copy() if g.ndim else g for g in grads)  # a second, different step
    return Case((GroupCase(h, tuple(params)),), (tuple(grads), second))


def _shapes_explicit(caps) -> list[Case]:
    """One tensor just past a 65,536-element chunk, one strided, one transposed, one 0-d and one
    empty in one group: every layout is met in every profile, whatever hypothesis draws."""
    dtype = "float32" if "float32" in caps.dtypes else sorted(caps.dtypes)[0]
    dt = S.float_format(dtype).dtype
    mode = sorted(caps.modes)[-1]
    h = Hyper(lr=1e-2, weight_decay=0.1 if mode != "adam" else 0.0, mode=mode)
    rng = np.random.default_rng(65537)
    shapes = [(65537,), (7,), (4, 3), (), (0,)]
    layouts = ["contiguous", "strided", "transposed", "contiguous", "contiguous"]
    kept = [i for i, (s, lay) in enumerate(zip(shapes, layouts))  # what the record declares
            if (caps.zero_dim or s) and lay in caps.layouts]
    shapes, layouts = [shapes[i] for i in kept], [layouts[i] for i in kept]
    thetas = [rng.standard_normal(s).astype(dt) for s in shapes]
    grads = tuple(rng.standard_normal(s).astype(dt) for s in shapes)
    params = tuple(ParamCase(t, lay) for t, lay in zip(thetas, layouts))
    return [Case((GroupCase(h, params),), (grads,), note="explicit: sizes and layouts")]


@prop("shapes_layouts", ["STATE-4"],
      "Every element of every tensor is updated: 0-d, empty, odd sizes, past 65,536, strided layouts",
      strategy=_shapes_layouts, cost=3.0, explicit=_shapes_explicit)
def shapes_layouts(adapter, case, collector):
    judge_trace(adapter, case, execute(adapter, case), collector)


@prop("state_dtype", ["DT-1"], "m, v and vmax are stored in the parameter's dtype, or the declared one",
      strategy=lambda caps: S.single_step_cases(caps, shapes=[(3,)]), judges_steps=False)
def state_dtype(adapter, case, collector):
    trace = execute(adapter, case)
    after = trace.snapshots[1][0]
    storage = S.float_format(np.asarray(case.params[0].init).dtype).name
    want = S.float_format(adapter.capabilities.state_dtype_for(storage)).dtype
    for name in ("m", "v", "vmax"):
        a = getattr(after, name)
        if a is not None and np.asarray(a).dtype != want:
            declared = "declared for" if want != np.asarray(case.params[0].init).dtype else "of"
            collector.fail(Violation(f"{name} is stored as {np.asarray(a).dtype}, not {np.dtype(want)} "
                                     f"({declared} a {storage} parameter)", case, 0, 1, clause="DT-1"))
