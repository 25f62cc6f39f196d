"""HTTP exchanges written once for sync and async: a generator yields each call, a driver runs it.

A backend whose check takes several requests (a first-use probe, windows that fit the served
context, a retry after the server named its context size) writes that logic once, as a
generator of ``Call``s that receives each ``httpx.Response``; ``drive`` and ``adrive`` are the
only I/O, one per kind of client.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from llamashield._loop_local import LoopLocal
from llamashield.backends._base import BackendAnswer, BaseBackend, GuardRequest, warm_async_http
from llamashield.backends._errors import connection_error

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """One request. A ``probe`` that cannot reach the server gets ``None`` back instead of
    failing the check: what it wanted to learn stays unknown, and the real request reports."""

    method: str
    url: str
    body: Any = None
    probe: bool = False


Exchange = Generator[Call, httpx.Response | None, T]


def drive(exchange: Exchange[T], client: httpx.Client, timeout: float, service: str) -> T:
    """Run ``exchange`` with a sync client; every call shares one deadline."""
    deadline = time.monotonic() + timeout
    reply: httpx.Response | None = None
    while True:
        try:
            call = exchange.send(reply)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        remaining = max(deadline - time.monotonic(), 0.001)
        try:
            reply = client.request(call.method, call.url, json=call.body, timeout=remaining)
        except httpx.HTTPError as exc:
            if not call.probe:
                exchange.close()
                timed_out = isinstance(exc, httpx.TimeoutException)
                raise connection_error(service, exc, timed_out=timed_out) from None
            reply = None


async def adrive(
    exchange: Exchange[T], client: httpx.AsyncClient, timeout: float, service: str
) -> T:
    """``drive`` with an async client."""
    deadline = time.monotonic() + timeout
    reply: httpx.Response | None = None
    while True:
        try:
            call = exchange.send(reply)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        remaining = max(deadline - time.monotonic(), 0.001)
        try:
            reply = await client.request(call.method, call.url, json=call.body, timeout=remaining)
        except httpx.HTTPError as exc:
            if not call.probe:
                exchange.close()
                timed_out = isinstance(exc, httpx.TimeoutException)
                raise connection_error(service, exc, timed_out=timed_out) from None
            reply = None


def json_of(reply: httpx.Response | None) -> Any:
    """A 2xx reply's JSON, or None (no reply, an error status, not JSON)."""
    if reply is None or not 200 <= reply.status_code < 300:
        return None
    try:
        return reply.json()
    except ValueError:
        return None


class ExchangeBackend(BaseBackend):
    """A backend whose check is one ``_exchange`` generator, run over its sync client or the
    running loop's async client: ``complete``/``acomplete``, warm-up and release, written once.

    Subclasses set ``_client`` and ``_aclients`` and name the server in ``_service()``.
    """

    _client: httpx.Client
    _aclients: LoopLocal[httpx.AsyncClient]

    def _service(self) -> str:
        raise NotImplementedError

    def _exchange(self, request: GuardRequest) -> Exchange[BackendAnswer]:
        raise NotImplementedError

    def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        self._ensure_open()
        return drive(self._exchange(request), self._client, timeout, self._service())

    async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        self._ensure_open()
        client = self._aclients.get()
        return await adrive(self._exchange(request), client, timeout, self._service())

    def warm_up(self) -> None:
        """Nothing to load: the sync client is made with the backend."""

    async def awarm_up(self) -> None:
        """Make this loop's async client now rather than on the first check."""
        await warm_async_http()
        self._aclients.get()

    def _release(self) -> None:
        self._client.close()

    async def _arelease(self) -> None:
        await self._aclose_on_running_loop(self._aclients.pop_all())
