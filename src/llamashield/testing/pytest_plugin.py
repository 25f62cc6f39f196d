"""pytest plugin (registered through the ``pytest11`` entry point): ``loopback_server``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llamashield.testing._server import LoopbackServer


@pytest.fixture
def loopback_server() -> Iterator[LoopbackServer]:
    """A fresh ``LoopbackServer`` on 127.0.0.1 for one test; ``.guard()`` builds a guard on it."""
    with LoopbackServer() as server:
        yield server
