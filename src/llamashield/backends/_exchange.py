"""HTTP exchanges written once for sync and async: a generator yields each call, a driver runs it.

A backend whose check takes several requests (a first-use probe, windows that fit the served
context, a retry after the server named its context size) writes that logic once, as a
generator of ``Call``s that receives each ``httpx.Response``; ``drive`` and ``adrive`` are the
only I/O, one per kind of client.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

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


class _Run(Generic[T]):
    """One exchange under way: its deadline, the reply it is sent next, what a failed request
    means and what it returned. Everything but the request itself, which is the only line a
    sync and an async driver write differently."""

    def __init__(self, exchange: Exchange[T], timeout: float, service: str) -> None:
        self._exchange = exchange
        self._deadline = time.monotonic() + timeout
        self._service = service
        self._call: Call | None = None
        self.reply: httpx.Response | None = None
        self.value: T

    def __iter__(self) -> Iterator[Call]:
        """The calls to make; the driver sets ``reply`` before asking for the next one."""
        while True:
            try:
                self._call = self._exchange.send(self.reply)
            except StopIteration as stop:
                self.value = stop.value
                return
            self.reply = None
            yield self._call

    def arguments(self, call: Call) -> dict[str, Any]:
        """``client.request``'s arguments: every call shares the one deadline."""
        remaining = max(self._deadline - time.monotonic(), 0.001)
        return {"method": call.method, "url": call.url, "json": call.body, "timeout": remaining}

    @contextmanager
    def failures(self) -> Iterator[None]:
        """A failed probe leaves ``reply`` at ``None``; any other failed call ends the exchange
        with the backend's connection error."""
        try:
            yield
        except httpx.HTTPError as exc:
            if self._call is None or not self._call.probe:
                self._exchange.close()
                timed_out = isinstance(exc, httpx.TimeoutException)
                raise connection_error(self._service, exc, timed_out=timed_out) from None


def drive(exchange: Exchange[T], client: httpx.Client, timeout: float, service: str) -> T:
    """Run ``exchange`` with a sync client; every call shares one deadline."""
    run = _Run(exchange, timeout, service)
    for call in run:
        with run.failures():
            run.reply = client.request(**run.arguments(call))
    return run.value


async def adrive(
    exchange: Exchange[T], client: httpx.AsyncClient, timeout: float, service: str
) -> T:
    """``drive`` with an async client."""
    run = _Run(exchange, timeout, service)
    for call in run:
        with run.failures():
            run.reply = await client.request(**run.arguments(call))
    return run.value


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
        await self._aclients.aclose_current()
