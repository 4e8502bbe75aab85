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


def check(adapter, profile: str = "ci", seed: int | None = None, clauses=None, claim: str | None = None,
          deviations=()):
    """Run the conformance suite as a library call (for unittest/absltest users).

    ``adapter`` is an adapter object or a name (built-in, or ``package.module:attr``);
    ``deviations`` are files of known deviations (TOML ``[[deviation]]`` entries) or
    ``Deviation`` objects, used beside the built-in ones. Returns a ``RunResult``: ``.verdict``
    is "conformant", "non-conformant" or "error", ``.verdicts`` the per-property verdicts
    with their failures and the known deviations they showed; ``.warnings`` (also issued as
    Python warnings) name the entries that excused nothing.
    """
    import warnings

    from adamspec.adapters.registry import load_adapter
    from adamspec.conformance import deviations as dev
    from adamspec.conformance.runner import run

    if isinstance(adapter, str):
        adapter = load_adapter(adapter, claim)
    entries = dev.builtin()
    for d in deviations:
        entries += [d] if isinstance(d, dev.Deviation) else dev.load(d)
    result = run(adapter, profile, seed, clauses, deviations=entries)
    for w in result.warnings:
        warnings.warn(f"adamspec: {w}", stacklevel=2)
    return result
