"""Hypothesis settings shared by the properties that drive whole pipelines."""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def pipeline_property(max_examples: int) -> settings:
    """Hypothesis settings for a property that drives a whole pipeline per example: bounded, so
    the suite stays a few seconds per surface; no deadline (a pipeline's first example builds
    what the later ones reuse); fixtures are shared by the examples on purpose."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
