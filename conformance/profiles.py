"""Hypothesis settings for the three run profiles (built as objects; nothing global is touched)."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

PROFILE_NAMES = ("ci", "default", "thorough")
_EXAMPLES = {"ci": 12, "default": 60, "thorough": 400}
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
          HealthCheck.large_base_example]


def hypothesis_settings(profile: str, cost: float = 1.0, seeded: bool = False) -> settings:
    """``ci``: derandomised (unless a seed is given), seconds per adapter; ``default``: about a
    minute per adapter on two cores; ``thorough``: nightly. No deadline, no example database
    (a CI gate must not depend on a previous run's files)."""
    if profile not in _EXAMPLES:
        raise ValueError(f"unknown profile {profile!r}; choose from {PROFILE_NAMES}")
    return settings(
        max_examples=max(2, int(_EXAMPLES[profile] / cost)),
        derandomize=profile == "ci" and not seeded,
        deadline=None,
        database=None,
        print_blob=False,
        suppress_health_check=_QUIET,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    )
