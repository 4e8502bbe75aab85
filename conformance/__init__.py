"""Conformance engine: cases, strategies, properties and reports (built on adamspec.reference)."""
