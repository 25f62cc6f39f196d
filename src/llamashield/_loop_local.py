"""Objects that belong to one event loop (async HTTP clients, semaphores), made lazily per loop.

A guard is often built at import time and then used from several loops (pytest-asyncio makes one
per test, ``asyncio.run`` one per call); an ``httpx.AsyncClient`` or ``asyncio.Semaphore`` must
not cross loops, so each loop gets its own.

An item that holds connections (``aclose`` given) is closed on its own loop when that loop shuts
down: once the loop is closed its sockets' transports can no longer be closed, and an
application that runs ``asyncio.run(guard.acheck(...))`` in a loop would otherwise leak one
client per call and see a ``ResourceWarning`` for each of its sockets.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


async def _closed_at_shutdown(
    item: T, aclose: Callable[[T], Awaitable[None]]
) -> AsyncGenerator[None]:
    """Waits at its ``yield`` for the loop's end: asyncio keeps every started async generator
    of a loop (weakly) and ``shutdown_asyncgens`` — run by ``asyncio.run``, ``asyncio.Runner``
    and pytest-asyncio before they close the loop — finalizes each, which runs this ``finally``
    on the loop while it still runs."""
    try:
        yield
    finally:
        await aclose(item)


def _start(agen: AsyncGenerator[None]) -> None:
    """Run ``agen`` to its ``yield`` without awaiting: its first step never suspends. Starting
    it on the running loop is what registers it with that loop's ``shutdown_asyncgens``."""
    step = agen.asend(None)
    try:
        step.send(None)
    except StopIteration:
        return
    raise RuntimeError("a loop-bound closer suspended before its yield")  # pragma: no cover


class LoopLocal(Generic[T]):
    """One ``T`` per event loop, made by ``factory`` on first use.

    With ``aclose``, each item is closed by ``aclose(item)`` on its loop when that loop shuts
    down, or earlier by ``aclose_current``; entries of loops closed some other way (a bare
    ``loop.close()``) are dropped when the next loop asks.
    """

    def __init__(
        self,
        factory: Callable[[], T],
        aclose: Callable[[T], Awaitable[None]] | None = None,
    ) -> None:
        self._factory = factory
        self._aclose = aclose
        # The closer generator is kept with its item: asyncio holds it only weakly.
        self._items: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[T, AsyncGenerator[None] | None]
        ] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        entry = self._items.get(loop)
        if entry is None:
            with self._lock:
                entry = self._items.get(loop)
                if entry is None:
                    self._drop_closed_loops()
                    item = self._factory()
                    closer = None
                    if self._aclose is not None:
                        closer = _closed_at_shutdown(item, self._aclose)
                        _start(closer)
                    entry = self._items[loop] = (item, closer)
        return entry[0]

    def _drop_closed_loops(self) -> None:
        """Forget the items of loops that closed without shutting down their async generators:
        nothing can run on them any more, and kept here they would keep the loop alive."""
        for loop in [loop for loop in self._items if loop.is_closed()]:
            del self._items[loop]

    def values(self) -> list[T]:
        return [item for item, _ in self._items.values()]

    async def aclose_current(self) -> None:
        """Close the running loop's item now (if it has one); the next ``get`` makes another.
        Items of other loops are left to their loops' shutdown."""
        with self._lock:
            entry = self._items.pop(asyncio.get_running_loop(), None)
        if entry is None:
            return
        closer = entry[1]
        if closer is not None:
            await closer.aclose()  # runs its ``finally``: ``aclose(item)``
