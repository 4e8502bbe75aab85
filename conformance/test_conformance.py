"""The conformance properties as pytest tests, one function per property (see plugin.py).

Collected with ``pytest --pyargs adamspec.conformance --adapter NAME``.
"""

import pytest

from adamspec.conformance.plugin import run_as_test
from adamspec.conformance.registry import load


def _make(prop):
    @pytest.mark.adamspec_clause(*prop.clauses)
    def test(adamspec_adapter, request):
        run_as_test(prop, adamspec_adapter, request.config)

    test.__name__ = f"test_{prop.name}"
    test.__doc__ = f"{prop.clause}: {prop.title}"
    test.adamspec_property = prop
    return test


for _prop in load().values():
    globals()[f"test_{_prop.name}"] = _make(_prop)
