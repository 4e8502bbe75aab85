"""The properties, one module per SPEC chapter group (SPEC "Checked by:" names them).

Each draws its cases from the adapter's capability record, runs them through the adapter,
and compares with the exact reference within the derived bound (``conformance/judge.py``),
or checks an exact (bitwise) claim where the spec makes one. Every failure names the clause
it refutes and goes through ``collector.fail``.

Importing this package registers them, module by module in the order below; reports and
tests list properties in that registration order, so a new module goes where its
properties should appear. ``registry.load()`` is what imports it.
"""

# In registration order, not alphabetical (hence I001); each import registers its properties (F401).
from adamspec.conformance.properties import (  # noqa: F401, I001
    agreement,  # AD-1 (and the clauses of the step), NUM-5
    decay,  # AW-3, L2-3
    adam,  # AD-7, AD-13
    state,  # STATE-5, AMS-2, MAX-2
    groups,  # GRP, NOGRAD
    inputs,  # MUT, AD-12
    symmetries,  # AD-8 … AD-11
    validation,  # VAL
    nonfinite,  # NF
    layout,  # STATE-4, DT-1
)
