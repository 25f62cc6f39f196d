"""Fixtures for ``llamashield serve``: a real uvicorn server on loopback, judging with a guard
on the loopback Together-compatible server (simulated verdicts over real HTTP)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

# The [serve] extra: without it there is nothing here to test.
if not all(importlib.util.find_spec(m) for m in ("starlette", "uvicorn", "prometheus_client")):
    collect_ignore_glob = ["test_*.py"]
else:
    from llamashield.serve import KeyStore, ServeConfig, ServerThread, create_app, hash_key
    from llamashield.testing import LoopbackServer

from tests.serve.serve_support import KEY, Running


@pytest.fixture
def serve() -> Iterator[Callable[..., Running]]:
    """``serve(latency=..., guard_model=..., **config)``: start both servers; all stop after."""
    with ExitStack() as stack:

        def start(
            *, latency: float = 0.0, guard_model: str = "meta-llama/LlamaGuard-2-8b",
            policy: dict[str, Any] | None = None, **config: Any,
        ) -> Running:  # fmt: skip
            guard_server = stack.enter_context(
                LoopbackServer(latency=latency, guard_model=guard_model)
            )
            guard = guard_server.guard(**(policy or {}))
            settings = ServeConfig(**config)
            app = create_app(settings, guard=guard, keys=KeyStore([hash_key(KEY)]))
            server = stack.enter_context(ServerThread(app))
            running = Running(server, guard_server, app)
            stack.callback(running.close)
            return running

        yield start


@pytest.fixture(autouse=True)
def _restore_sdk_log_levels() -> Iterator[None]:
    """``create_app`` raises the SDKs' loggers to INFO; other tests' log captures get theirs
    back as they were."""
    import logging

    levels = {name: logging.getLogger(name).level for name in ("together", "openai")}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
