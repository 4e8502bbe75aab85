"""adamspec: an executable spec and conformance suite for Adam, Adam+L2 and AdamW.

The normative text is ``spec/SPEC.md`` (``adamspec.spec``); the exact reference
is ``adamspec.reference``. Frameworks such as torch are imported lazily by the
adapters only, so this package imports without them.
"""

__version__ = "0.1.0"


def spec_version() -> str:
    """The calendar version of SPEC.md, read from the document itself."""
    from adamspec.spec import spec_version as _spec_version

    return _spec_version()
