"""A real ``redis-server`` per test, on a free loopback port (skips when it is not installed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llamashield.testing import RedisServer

pytest.importorskip(
    "redis", reason="the Redis cache needs redis-py: pip install 'llamashield[redis]'"
)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
    except FileNotFoundError as exc:
        pytest.skip(f"{exc} (CI installs it)")
    with server:
        yield server
