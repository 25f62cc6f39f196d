"""Verdict caches: the protocol every cache implements, and the in-process LRU (``cache=True``).

A cache maps a key (a hash of everything that decides the verdict: see ``_cache_key``) to a
``Verdict``. The guard computes keys only when a cache is set, never stores error verdicts, and
treats a cache that fails as a miss: a cache can save a backend call, never decide a check.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Protocol, runtime_checkable

from llamashield._exceptions import ConfigurationError
from llamashield._verdict import Verdict

__all__ = ["LRUVerdictCache", "VerdictCache", "resolve_cache"]


@runtime_checkable
class VerdictCache(Protocol):
    """What ``LlamaGuard(cache=...)`` accepts besides ``True``/a size.

    ``get`` returns ``None`` on a miss and on any trouble (a cache must not raise into a check);
    ``put`` may drop the verdict. The async twins serve ``acheck``; a cache without I/O simply
    calls the sync ones.
    """

    def get(self, key: str) -> Verdict | None: ...

    def put(self, key: str, verdict: Verdict) -> None: ...

    async def aget(self, key: str) -> Verdict | None: ...

    async def aput(self, key: str, verdict: Verdict) -> None: ...


class LRUVerdictCache:
    """A small thread-safe in-process LRU of verdicts; what ``cache=True`` (1024) builds.

    Example::

        guard = LlamaGuard(SimulatedBackend(), cache=LRUVerdictCache(10_000))
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ConfigurationError(f"cache size must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._data: OrderedDict[str, Verdict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Verdict | None:
        with self._lock:
            verdict = self._data.get(key)
            if verdict is not None:
                self._data.move_to_end(key)
        return verdict

    def put(self, key: str, verdict: Verdict) -> None:
        if verdict.error is not None:
            return  # a failure is about this moment, not about the content
        with self._lock:
            self._data[key] = verdict.model_copy(update={"cached": True})
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    async def aget(self, key: str) -> Verdict | None:
        return self.get(key)

    async def aput(self, key: str, verdict: Verdict) -> None:
        self.put(key, verdict)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def resolve_cache(cache: bool | int | VerdictCache | None) -> VerdictCache | None:
    """``LlamaGuard(cache=...)``: ``True`` is a 1024-entry LRU, an int its size, falsy none."""
    if cache is None or cache is False:
        return None
    if cache is True:
        return LRUVerdictCache(1024)
    if isinstance(cache, int):
        return LRUVerdictCache(cache) if cache else None
    if isinstance(cache, VerdictCache):
        return cache
    raise ConfigurationError(
        "cache= takes True, a size, or a cache with get/put/aget/aput "
        f"(LRUVerdictCache, RedisVerdictCache), got {type(cache).__name__}"
    )
