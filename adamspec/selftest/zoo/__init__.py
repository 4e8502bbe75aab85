"""A zoo of deliberately wrong Adam / Adam+L2 / AdamW implementations, and correct controls.

Every member is a small ``torch.optim.Optimizer`` written from scratch (no torch.optim.Adam
inside): one correct base class, ``ReferenceAdam`` (reference_adam.py), computes the canonical step of SPEC
AD-1 with torch tensor ops in the parameter's dtype and Python-float hyperparameters, the way
torch's CPU for-loop path does, and each mutant overrides exactly one small hook of it (or sets
one class attribute), so that every mutant differs from a correct implementation in one place.

``MUTANTS`` (catalogue.py) lists the wrong ones with the mode they claim, the SPEC clauses of which at least one
must reject them, the real-world bug class they stand for and where that class was reported.
``CONTROLS`` lists the base classes under their three honest claims; they must conform.

Each entry carries a *witness*: a small concrete input on which the mutant and the correct
control visibly disagree (a value off by a clear margin, a mutated gradient, a wrong step count,
an error not raised ...). ``witness_differs`` (witness.py) replays it with plain torch — no adamspec
property involved — which proves that no mutant is equivalent to a correct implementation, so a
mutant that the conformance suite lets through is a gap of the suite, not of the zoo.

Use a member with the suite through ``adapter``. The modules:

- ``reference_adam.py``: the correct optimizer with its hooks, and ``control_for(claim)``;
- ``mutants.py``: the wrong classes, each overriding one hook;
- ``catalogue.py``: ``MUTANTS`` and ``CONTROLS`` (claim, expected clauses, bug class, source,
  witness) and ``adapter(member)``;
- ``witness.py``: replaying a witness with plain torch and the margin between two observations.

It needs torch at import (``adamspec selftest`` and tests/test_zoo.py import it only then).
"""

from adamspec.selftest.zoo.catalogue import CONTROLS, MUTANTS, Mutant, adapter
from adamspec.selftest.zoo.reference_adam import ReferenceAdam, ReferenceAdamW, control_for
from adamspec.selftest.zoo.witness import WITNESS_MARGIN, observe, witness_differs, witness_margin

__all__ = ["CONTROLS", "MUTANTS", "WITNESS_MARGIN", "Mutant", "ReferenceAdam", "ReferenceAdamW", "adapter",
           "control_for", "observe", "witness_differs", "witness_margin"]
