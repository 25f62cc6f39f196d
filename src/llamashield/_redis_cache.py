"""``RedisVerdictCache``: one verdict cache shared by every replica of a service, in Redis.

Redis is an accelerator here, never a dependency of a check: every failure (refused connection,
timeout, a foreign or corrupt value) is counted, logged, and answered as a miss, so the check goes
to the backend. After a failure Redis is left alone for ``cooldown`` seconds, so a dead or
black-holed server costs one short timeout per cool-down, not one per check.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from llamashield import _publish
from llamashield._cache_key import decode_verdict, encode_verdict
from llamashield._exceptions import ConfigurationError
from llamashield._loop_local import LoopLocal
from llamashield._verdict import Verdict

__all__ = ["RedisVerdictCache"]

logger = logging.getLogger("llamashield")


def _import_redis() -> Any:
    try:
        import redis
        import redis.asyncio
    except ImportError as exc:
        raise ImportError(
            "RedisVerdictCache needs redis-py: pip install 'llamashield[redis]'"
        ) from exc
    return redis


class RedisVerdictCache:
    """Verdicts shared through Redis by every guard that points at it.

    Keys are SHA-256 digests of model, policy and conversation; values hold the verdict only,
    never the conversation's text. Entries expire after ``ttl`` seconds (``None``: never).

    Example::

        from llamashield import LlamaGuard
        from llamashield.cache import RedisVerdictCache

        cache = RedisVerdictCache("redis://cache.internal:6379/0", ttl=3600)
        guard = LlamaGuard(cache=cache)          # every replica built this way shares verdicts
        cache.stats()                            # {'hits': ..., 'misses': ..., 'errors': ...}

    Args:
        url_or_client: a ``redis://`` URL (sync and asyncio clients are made from it), or a
            ``redis.Redis`` client (the async path then runs it in a thread unless
            ``async_client`` is given).
        ttl: seconds an entry lives.
        prefix: prepended to every key, to share one Redis between applications.
        timeout: seconds for one Redis call (connect included) before the cache is skipped.
        cooldown: seconds Redis is skipped after a failure.
        async_client: a ``redis.asyncio.Redis`` for ``acheck`` when passing a sync client.
    """

    def __init__(
        self,
        url_or_client: Any,
        *,
        ttl: float | None = 24 * 3600,
        prefix: str = "llamashield:verdict:",
        timeout: float = 0.25,
        cooldown: float = 1.0,
        async_client: Any = None,
    ) -> None:
        redis = _import_redis()
        if ttl is not None and not ttl > 0:
            raise ConfigurationError(f"ttl must be a positive number of seconds or None, got {ttl}")
        if not timeout > 0 or cooldown < 0:
            raise ConfigurationError("timeout must be > 0 and cooldown >= 0")
        self.ttl, self.prefix, self.timeout, self.cooldown = ttl, prefix, timeout, cooldown
        self._counts = {"hits": 0, "misses": 0, "writes": 0, "errors": 0, "skipped": 0}
        self._lock = threading.Lock()
        self._down_until = 0.0
        if isinstance(url_or_client, str):
            url = url_or_client
            options = self._options(redis.retry.Retry, redis.backoff.NoBackoff)
            self._client = redis.Redis.from_url(url, **options)
            aoptions = self._options(redis.asyncio.retry.Retry, redis.backoff.NoBackoff)
            self._aclients: LoopLocal[Any] | None = LoopLocal(
                lambda: redis.asyncio.Redis.from_url(url, **aoptions)
            )
        elif isinstance(url_or_client, redis.asyncio.Redis):
            raise ConfigurationError(
                "RedisVerdictCache takes a URL or a sync redis.Redis; pass an asyncio client "
                "as async_client= next to it (check() needs the sync one)"
            )
        elif isinstance(url_or_client, redis.Redis):
            self._client = url_or_client
            self._aclients = None if async_client is None else LoopLocal(lambda: async_client)
        else:
            raise ConfigurationError(
                f"RedisVerdictCache takes a redis:// URL or a redis.Redis client, "
                f"got {type(url_or_client).__name__}"
            )

    def _options(self, retry: Any, no_backoff: Any) -> dict[str, Any]:
        # No client-side retries: a retry with backoff would stall the check that waits on it.
        return {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "retry": retry(no_backoff(), 0),
        }

    def __repr__(self) -> str:
        return f"RedisVerdictCache(prefix={self.prefix!r}, ttl={self.ttl})"

    # -- bookkeeping ----------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counts since creation: hits, misses, writes, errors (Redis failed), skipped (calls
        not sent during a cool-down)."""
        with self._lock:
            return dict(self._counts)

    @property
    def errors(self) -> int:
        return self.stats()["errors"]

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def _available(self) -> bool:
        if time.monotonic() < self._down_until:
            self._count("skipped")
            return False
        return True

    def _failed(self, action: str, exc: BaseException) -> None:
        with self._lock:
            self._counts["errors"] += 1
            was_up = time.monotonic() >= self._down_until
            self._down_until = time.monotonic() + self.cooldown
        # One warning per outage, the rest at debug level: a dead Redis must not flood the logs.
        log = logger.warning if was_up else logger.debug
        log(
            "llamashield verdict cache: Redis %s failed (%s: %s); checks go to the backend, "
            "Redis is retried in %.1fs", action, type(exc).__name__, exc, self.cooldown,
        )  # fmt: skip

    def _decode(self, data: Any) -> Verdict | None:
        if data is None:
            self._count("misses")
            return None
        try:
            verdict = decode_verdict(data)
        except ValueError as exc:
            self._failed("read", exc)
            return None
        self._count("hits")
        return verdict

    def _set_args(self, key: str, verdict: Verdict) -> tuple[str, bytes, int | None]:
        px = None if self.ttl is None else max(1, round(self.ttl * 1000))
        return self.prefix + key, encode_verdict(verdict), px

    # -- the cache protocol ---------------------------------------------------------------

    def get(self, key: str) -> Verdict | None:
        if not self._available():
            return None
        try:
            data = self._client.get(self.prefix + key)
        except Exception as exc:  # any client failure is a miss, never a guard error
            self._failed("get", exc)
            return None
        return self._decode(data)

    def put(self, key: str, verdict: Verdict) -> None:
        if verdict.error is not None or not self._available():
            return
        name, value, px = self._set_args(key, verdict)
        try:
            self._client.set(name, value, px=px)
        except Exception as exc:
            self._failed("set", exc)
        else:
            self._count("writes")

    async def aget(self, key: str) -> Verdict | None:
        if self._aclients is None:
            return await asyncio.to_thread(self.get, key)
        if not self._available():
            return None
        try:
            data = await self._aclients.get().get(self.prefix + key)
        except Exception as exc:
            self._failed("get", exc)
            return None
        return self._decode(data)

    async def aput(self, key: str, verdict: Verdict) -> None:
        if self._aclients is None:
            await asyncio.to_thread(self.put, key, verdict)
            return
        if verdict.error is not None or not self._available():
            return
        name, value, px = self._set_args(key, verdict)
        try:
            await self._aclients.get().set(name, value, px=px)
        except Exception as exc:
            self._failed("set", exc)
        else:
            self._count("writes")

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync client's connections (asyncio clients close with ``aclose``)."""
        self._client.close()

    async def aclose(self) -> None:
        """Close this loop's asyncio client and the sync client."""
        if self._aclients is not None:
            await self._aclients.get().aclose()
        self.close()

    def __enter__(self) -> RedisVerdictCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_publish(globals())  # the public names here report ``llamashield`` as their module
