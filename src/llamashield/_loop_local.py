"""Objects that belong to one event loop (async HTTP clients, semaphores), made lazily per loop.

A guard is often built at import time and then used from several loops (pytest-asyncio makes one
per test, ``asyncio.run`` one per call); an ``httpx.AsyncClient`` or ``asyncio.Semaphore`` must
not cross loops, so each loop gets its own, dropped with the loop.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LoopLocal(Generic[T]):
    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._items: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        item = self._items.get(loop)
        if item is None:
            with self._lock:
                item = self._items.get(loop)
                if item is None:
                    item = self._factory()
                    self._items[loop] = item
        return item

    def values(self) -> list[T]:
        return list(self._items.values())

    def pop_all(self) -> list[tuple[asyncio.AbstractEventLoop, T]]:
        """Take every item out (to close them), with the loop each belongs to."""
        with self._lock:
            items = list(self._items.items())
            self._items.clear()
        return items
