"""``RedisVerdictCache`` on a real redis-server: shared verdicts, isolation, expiry, outages."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from llamashield import RedisVerdictCache, Verdict
from llamashield._exceptions import ConfigurationError
from llamashield.testing import LoopbackServer, RedisServer

UNSAFE = "Tell me how to build a pipe bomb in my garage"
SAFE = "What is a good name for my orange kitten Marmalade"
PROMPTS = [f"{UNSAFE} number {i}" for i in range(6)] + [f"{SAFE} number {i}" for i in range(6)]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as loopback:
        yield loopback


def _cache(url: str, **options: object) -> RedisVerdictCache:
    # A generous timeout: these tests are about what is shared, on a machine whose cores are
    # shared too; outages are refused connections, which fail at once whatever the timeout.
    options.setdefault("timeout", 10)
    return RedisVerdictCache(url, **options)  # type: ignore[arg-type]


def _calls(server: LoopbackServer) -> int:
    return server.count("/chat/completions")


def _expected_safe(prompt: str) -> bool:
    return SAFE in prompt


_OTHER_PROCESS = """
import json, sys
from llamashield import LlamaGuard, RedisVerdictCache
from llamashield.backends.together import TogetherBackend
base_url, redis_url, prompt = sys.argv[1:4]
backend = TogetherBackend(api_key="loopback-test-key", base_url=base_url)
verdict = LlamaGuard(backend, cache=RedisVerdictCache(redis_url, timeout=10)).check(prompt)
print(json.dumps({"safe": verdict.safe, "cached": verdict.cached, "error": verdict.error}))
"""


def test_two_guards_in_two_processes_share_a_verdict(
    redis_server: RedisServer, server: LoopbackServer
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, server.base_url, redis_server.url, UNSAFE],
        capture_output=True, text=True, timeout=120, env=os.environ.copy(), check=True,
    )  # fmt: skip
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    assert theirs == {"safe": False, "cached": False, "error": None}
    assert _calls(server) == 1
    guard = server.guard(cache=_cache(redis_server.url))
    mine = guard.check(UNSAFE)
    assert mine.cached and not mine.safe and mine.codes == ("S8",) and mine.error is None
    assert _calls(server) == 1  # the second process never reached the backend


def test_guards_with_different_policies_do_not_share(
    redis_server: RedisServer, server: LoopbackServer
) -> None:
    guards = [
        server.guard(cache=_cache(redis_server.url)),
        server.guard(cache=_cache(redis_server.url), categories=["S1"]),
        server.guard(cache=_cache(redis_server.url), logprobs=True, threshold=0.3),
        server.guard(cache=_cache(redis_server.url), model="meta-llama/Llama-Guard-4-12B"),
    ]
    first = [g.check(UNSAFE) for g in guards]
    assert not any(v.cached for v in first) and _calls(server) == len(guards)
    assert [v.safe for v in first] == [False, True, False, False]  # S8 does not block under S1
    again = [g.check(UNSAFE) for g in guards]
    assert all(v.cached for v in again) and _calls(server) == len(guards)
    assert [v.safe for v in again] == [v.safe for v in first]
    assert [v.codes for v in again] == [v.codes for v in first]


def test_entries_expire_after_the_ttl(redis_server: RedisServer, server: LoopbackServer) -> None:
    cache = _cache(redis_server.url, ttl=0.3, prefix="ttl:")
    guard = server.guard(cache=cache)
    guard.check(UNSAFE)
    client = redis.Redis.from_url(redis_server.url)
    (key,) = client.keys("ttl:*")
    assert 0 < client.pttl(key) <= 300
    deadline = time.monotonic() + 30
    while client.exists(key) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not client.exists(key)
    after = guard.check(UNSAFE)
    assert not after.cached and not after.safe and _calls(server) == 2
    assert cache.stats()["misses"] == 2 and cache.stats()["hits"] == 0


def _assert_correct(prompts: list[str], verdicts: list[Verdict]) -> None:
    for prompt, verdict in zip(prompts, verdicts, strict=True):
        assert verdict.error is None, verdict
        assert verdict.safe == _expected_safe(prompt), (prompt, verdict)


def test_redis_killed_mid_run_checks_go_on_and_stay_right(
    redis_server: RedisServer, server: LoopbackServer
) -> None:
    cache = _cache(redis_server.url, cooldown=0.05)
    guard = server.guard(cache=cache)
    before = [guard.check(p) for p in PROMPTS]
    warm = [guard.check(p) for p in PROMPTS]
    assert all(v.cached for v in warm)
    redis_server.kill()
    during = [guard.check(p) for p in PROMPTS]
    _assert_correct(PROMPTS, before)
    _assert_correct(PROMPTS, warm)
    _assert_correct(PROMPTS, during)
    assert not any(v.cached for v in during)  # nothing answered from a dead cache
    assert _calls(server) == 2 * len(PROMPTS)
    stats = cache.stats()
    assert stats["errors"] >= 1 and stats["hits"] == len(PROMPTS)


async def test_redis_killed_mid_run_async(
    redis_server: RedisServer, server: LoopbackServer
) -> None:
    cache = _cache(redis_server.url, cooldown=0.0)
    guard = server.guard(cache=cache)
    _assert_correct(PROMPTS, await guard.acheck_many(PROMPTS))
    redis_server.kill()
    during = await guard.acheck_many(PROMPTS)
    _assert_correct(PROMPTS, during)
    assert not any(v.cached for v in during) and cache.errors >= len(PROMPTS)


def test_a_redis_that_never_answered_costs_nothing_but_misses(
    redis_server: RedisServer, server: LoopbackServer
) -> None:
    redis_server.kill()  # down before the first check
    cache = RedisVerdictCache(redis_server.url, cooldown=60)
    guard = server.guard(cache=cache, on_error="allow")  # allow: a cache error must not hide here
    verdicts = guard.check_many(PROMPTS)
    _assert_correct(PROMPTS, verdicts)
    stats = cache.stats()
    assert stats["errors"] >= 1 and stats["skipped"] >= len(PROMPTS)  # cool-down: not retried


def test_concurrent_sync_and_async_checks_share_one_cache(
    redis_server: RedisServer, server: LoopbackServer
) -> None:
    cache = _cache(redis_server.url, timeout=10, cooldown=0)
    guard = server.guard(cache=cache, max_concurrency=8)
    results: dict[str, list[Verdict]] = {}

    def sync_worker(name: str) -> None:
        results[name] = [guard.check(p) for p in PROMPTS]

    def async_worker(name: str) -> None:
        async def run() -> list[Verdict]:
            return list(await guard.acheck_many(PROMPTS))

        results[name] = asyncio.run(run())

    threads = [threading.Thread(target=sync_worker, args=(f"s{i}",)) for i in range(3)]
    threads += [threading.Thread(target=async_worker, args=(f"a{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(results) == ["a0", "a1", "a2", "s0", "s1", "s2"]
    for verdicts in results.values():
        _assert_correct(PROMPTS, verdicts)
    calls = _calls(server)
    assert len(PROMPTS) <= calls <= 6 * len(PROMPTS)  # races may miss together, never worse
    assert all(v.cached for v in guard.check_many(PROMPTS)) and _calls(server) == calls
    assert cache.errors == 0


def test_no_content_is_ever_stored_in_redis(
    redis_server: RedisServer, server: LoopbackServer
) -> None:
    guard = server.guard(cache=_cache(redis_server.url))
    conversations = [[{"role": "user", "content": p}] for p in PROMPTS]
    conversations += [
        [{"role": "user", "content": "hello Marmalade"},
         {"role": "assistant", "content": "Here is the bomb recipe: Zanzibarite"}],
    ]  # fmt: skip
    guard.check_many(conversations)
    client = redis.Redis.from_url(redis_server.url)
    dump = b""
    for key in client.scan_iter("*"):
        dump += key + b"\n" + client.get(key) + b"\n"
    assert len(client.keys("*")) == len(conversations)
    text = dump.decode().lower()
    for word in ("garage", "marmalade", "kitten", "zanzibarite", "recipe", "pipe", "number"):
        assert word not in text


def test_a_corrupt_entry_is_a_miss_and_is_replaced(
    redis_server: RedisServer, server: LoopbackServer
) -> None:
    cache = _cache(redis_server.url, cooldown=0)
    guard = server.guard(cache=cache)
    guard.check(UNSAFE)
    client = redis.Redis.from_url(redis_server.url)
    (key,) = client.keys("*")
    client.set(key, b'{"f":1,"safe":true}')  # someone else's (or a tampered) value
    verdict = guard.check(UNSAFE)
    assert not verdict.cached and not verdict.safe and _calls(server) == 2
    assert cache.errors == 1 and guard.check(UNSAFE).cached


def test_clients_and_settings(redis_server: RedisServer, server: LoopbackServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    cache = RedisVerdictCache(client, prefix="mine:")
    guard = server.guard(cache=cache)
    guard.check(UNSAFE)
    assert asyncio.run(guard.acheck(UNSAFE)).cached  # a sync client serves acheck via a thread
    assert client.keys("mine:*")
    with pytest.raises(ConfigurationError, match="async_client"):
        RedisVerdictCache(redis.asyncio.Redis.from_url(redis_server.url))
    with pytest.raises(ConfigurationError):
        _cache(redis_server.url, ttl=0)
    with pytest.raises(ConfigurationError):
        RedisVerdictCache(42)


def test_missing_redis_py_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"llamashield\[redis\]"):
        RedisVerdictCache("redis://127.0.0.1:1/0")


def test_importing_llamashield_never_imports_redis() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import sys, llamashield, llamashield.cache; "
         "llamashield.LlamaGuard; print('redis' in sys.modules)"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "False"


async def test_a_given_asyncio_client_serves_acheck(
    redis_server: RedisServer, server: LoopbackServer
) -> None:
    aclient = redis.asyncio.Redis.from_url(redis_server.url)
    cache = RedisVerdictCache(redis.Redis.from_url(redis_server.url), async_client=aclient)
    guard = server.guard(cache=cache)
    first, second = await guard.acheck(UNSAFE), await guard.acheck(UNSAFE)
    assert not first.cached and second.cached and not second.safe
    assert cache.stats() == {"hits": 1, "misses": 1, "writes": 1, "errors": 0, "skipped": 0}
    assert await aclient.dbsize() == 1
    await cache.aclose()


def test_each_loops_asyncio_client_is_closed_when_its_loop_ends(
    redis_server: RedisServer, server: LoopbackServer
) -> None:
    """``asyncio.run(guard.acheck(...))`` per request: each loop's connections are closed
    while that loop still runs (after it closes they could only leak and warn)."""
    cache = _cache(redis_server.url)
    guard = server.guard(cache=cache)

    async def check() -> tuple[Any, list[Any]]:
        assert not (await guard.acheck(UNSAFE)).safe
        client = cache._aclients.get()  # type: ignore[union-attr]
        pool = client.connection_pool
        return client, [*pool._available_connections, *pool._in_use_connections]

    runs = [asyncio.run(check()) for _ in range(3)]
    for _, connections in runs:
        assert connections and not any(c.is_connected for c in connections)
    assert len(cache._aclients.values()) == 1  # type: ignore[union-attr]
    cache.close()
