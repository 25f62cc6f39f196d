"""OpenTelemetry's SDK, in memory: one tracer provider and one meter provider for the session
(OpenTelemetry lets a process set its global providers once), emptied before each test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

try:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from tests.telemetry._otel import Otel, install
except ImportError:  # without the SDK only the "OpenTelemetry absent" tests can run
    collect_ignore_glob = ["test_[!w]*.py"]
    if not TYPE_CHECKING:
        Otel = object


@pytest.fixture
def otel() -> Iterator[Otel]:
    session = install()
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        pytest.skip("another test set a different global tracer provider first")
    session.exporter.clear()
    yield session
    session.exporter.clear()
