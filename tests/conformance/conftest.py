"""Meta's packages for the conformance suite, and a loopback server that records requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llamashield.testing import LoopbackServer
from tests.conformance.meta_reference import Meta, PyPIUnreachable, download_wheels, load


@pytest.fixture(scope="session")
def meta() -> Meta:
    try:
        wheels = download_wheels()
    except PyPIUnreachable as exc:  # the only reason to skip: CI reaches PyPI
        pytest.skip(f"PyPI is unreachable, cannot fetch Meta's pinned wheels: {exc}")
    return load(wheels)


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running
