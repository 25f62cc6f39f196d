"""Verdict caches for ``LlamaGuard(cache=...)``: in-process, or shared by replicas in Redis.

Example::

    from llamashield import LlamaGuard
    from llamashield.cache import RedisVerdictCache

    guard = LlamaGuard(cache=RedisVerdictCache("redis://localhost:6379/0", ttl=3600))

``RedisVerdictCache`` needs ``pip install 'llamashield[redis]'``; it is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llamashield._cache import LRUVerdictCache, VerdictCache

if TYPE_CHECKING:
    from llamashield._redis_cache import RedisVerdictCache

__all__ = ["LRUVerdictCache", "RedisVerdictCache", "VerdictCache"]


def __getattr__(name: str) -> Any:
    if name == "RedisVerdictCache":
        from llamashield._redis_cache import RedisVerdictCache

        return RedisVerdictCache
    raise AttributeError(f"module 'llamashield.cache' has no attribute {name!r}")
