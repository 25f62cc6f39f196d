"""What the serve tests share besides fixtures (what a test module imports; fixtures stay in
conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

KEY = "sk-serve-test-key"


class Running:
    """One moderation server and the loopback guard server behind it."""

    def __init__(self, server: Any, guard_server: Any, app: Any) -> None:
        self.server, self.guard_server, self.app = server, guard_server, app
        self.url = server.url
        self.service = app.state.service
        self.clients: list[Any] = []  # the sync SDK clients made here, closed with the servers
        self.async_clients: list[Any] = []

    def openai(self, key: str = KEY, **options: Any) -> Any:
        import openai

        client = openai.OpenAI(base_url=f"{self.url}/v1", api_key=key, **options)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def async_openai(self, key: str = KEY, **options: Any) -> Any:
        import openai

        client = openai.AsyncOpenAI(base_url=f"{self.url}/v1", api_key=key, **options)
        self.async_clients.append(client)
        return client

    async def aclose(self) -> None:
        """Close the async SDK clients made here: on the test's loop, before it ends."""
        for client in self.async_clients:
            await client.close()


Serve = Callable[..., Running]
"""The ``serve`` fixture: ``serve(latency=..., guard_model=..., **config)`` starts a server."""
