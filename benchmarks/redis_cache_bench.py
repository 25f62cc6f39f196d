"""The shared verdict cache: a Redis hit vs a backend call, and backend calls saved by replicas.

Run: ``.venv/bin/python -m benchmarks.redis_cache_bench`` (needs ``redis-server`` on the PATH).
Every figure comes from this one run: the per-check latencies are measured interleaved against
one loopback server process, and the replica figures count the calls that server received.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import time
from concurrent.futures import ProcessPoolExecutor

from benchmarks._common import interleaved, print_table, server_process
from llamashield import LlamaGuard, RedisVerdictCache
from llamashield.backends import TogetherBackend
from llamashield.testing import LoopbackServer, RedisServer

MODEL = "meta-llama/LlamaGuard-2-8b"
KEY = "bench-key"


def _guard(url: str, cache: object) -> LlamaGuard:
    return LlamaGuard(TogetherBackend(MODEL, api_key=KEY, base_url=url), cache=cache)  # type: ignore[arg-type]


def hit_latency(url: str, redis_url: str) -> list[tuple[str, str, str, str]]:
    redis_guard = _guard(url, RedisVerdictCache(redis_url, prefix="bench-hit:"))
    lru_guard = _guard(url, True)
    plain = _guard(url, False)
    text = "How do I bake sourdough bread at home?"
    redis_guard.check(text)
    lru_guard.check(text)
    times = interleaved(
        {
            "backend": lambda: plain.check(text),
            "redis": lambda: redis_guard.check(text),
            "lru": lambda: lru_guard.check(text),
        },
        rounds=15,
        per_round=40,
    )
    ms = {k: v * 1000 for k, v in times.items()}
    return [
        ("check answered by the backend (loopback HTTP)", f"{ms['backend']:.3f} ms", "1.00x", ""),
        ("check answered from Redis", f"{ms['redis']:.3f} ms",
         f"{ms['backend'] / ms['redis']:.1f}x faster", ">= 2x"),
        ("check answered from the in-process LRU", f"{ms['lru']:.3f} ms",
         f"{ms['backend'] / ms['lru']:.1f}x faster", ""),
    ]  # fmt: skip


def _replica(args: tuple[str, str | None, bool, int, int, int]) -> float:
    """One replica: ``checks`` checks over ``distinct`` prompts in its own order."""
    url, redis_url, lru, checks, distinct, seed = args
    cache: object = RedisVerdictCache(redis_url, timeout=2.0) if redis_url else lru
    guard = _guard(url, cache)
    prompts = [f"Question {i}: how do I repot a cactus?" for i in range(distinct)]
    order = [prompts[i % distinct] for i in range(checks)]
    random.Random(seed).shuffle(order)
    started = time.perf_counter()
    for prompt in order:
        guard.check(prompt)
    return time.perf_counter() - started


def replicas(
    redis: RedisServer, processes: int, checks: int, distinct: int
) -> list[tuple[str, str, str, str]]:
    context = multiprocessing.get_context("spawn")
    rows: list[tuple[str, str, str, str]] = []
    calls: dict[str, int] = {}
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        list(pool.map(int, range(processes)))  # start the workers before timing anything
        for name, redis_url, lru in (("no cache", None, False),
                                     ("per-replica LRU", None, True),
                                     ("shared Redis", redis.url, False)):  # fmt: skip
            with LoopbackServer() as server:  # a fresh server counts this configuration's calls
                jobs = [(server.base_url, redis_url, lru, checks, distinct, seed)
                        for seed in range(processes)]  # fmt: skip
                started = time.perf_counter()
                list(pool.map(_replica, jobs))
                wall = time.perf_counter() - started
                calls[name] = server.count("/chat/completions")
            fewer = calls["no cache"] / max(calls[name], 1)
            rows.append((f"{processes} x {checks:,} checks, {distinct} prompts: {name}",
                         f"{calls[name]:,} backend calls, {wall:.1f} s",
                         f"{fewer:.1f}x fewer calls", ""))  # fmt: skip
    rows[-1] = (*rows[-1][:3], f"~{distinct} calls")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=int, default=10)
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--distinct", type=int, default=100)
    args = parser.parse_args()
    with RedisServer() as redis:
        with server_process() as url:
            print_table("Redis verdict cache: one check", hit_latency(url, redis.url))
        print_table(
            "Replicas sharing verdicts",
            replicas(redis, args.processes, args.checks, args.distinct),
        )


if __name__ == "__main__":
    main()
