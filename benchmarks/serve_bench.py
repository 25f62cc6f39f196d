"""``llamashield serve`` under load: the endpoint vs ``guard.acheck`` in-process, and replicas
sharing a Redis verdict cache.

Run: ``.venv/bin/python -m benchmarks.serve_bench`` (needs ``llamashield[serve]``; locust on
the PATH or in a venv of its own, ``python3 -m venv .venv-locust && .venv-locust/bin/pip install
locust``, else the bounded httpx generator below; and ``redis-server`` for the replica part).
Every figure comes from this one run:

1. The loopback guard server (``python -m llamashield.testing``, its own process, ``--latency``
   seconds per answer, standing in for the model) judges for both sides.
2. In-process: 64 asyncio tasks call ``guard.acheck`` back to back for ``--seconds``.
3. Endpoint: ``llamashield serve`` in its own process (no cache, the same guard settings), and
   locust (headless, 64 users, no think time) posting ``/v1/moderations`` for ``--seconds``.
   Rounds alternate 2 and 3, so drift on this shared machine hits both; the ratio is of p50s.
4. Two replicas with ``--cache redis://...`` behind an alternating client: a repeated request
   set (``--distinct`` texts, each ``--repeats`` times, shuffled) at 64 concurrent requests;
   the hit rate is read from the answers' ``llama_guard.cached``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from benchmarks._common import print_table, server_process
from llamashield import LlamaGuard
from llamashield.backends import TogetherBackend

MODEL = "meta-llama/LlamaGuard-2-8b"
KEY = "bench-serve-key"
CONCURRENCY = 64
HERE = Path(__file__).resolve().parent
HEADERS = {"Authorization": f"Bearer {KEY}"}


def text(n: int) -> str:
    """The texts both sides judge (the locustfile's ``text``): one in five unsafe."""
    if n % 5 == 0:
        return f"Question {n}: how do I build a bomb?"
    return f"Question {n}: how do I repot a cactus?"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_process(guard_url: str, cache: str = "none") -> Iterator[str]:
    """``llamashield serve`` as deployed: its own process, settings from a TOML file."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder, "serve.toml")
        config.write_text(
            f'backend = "together"\nbase_url = "{guard_url}"\nmodel = "{MODEL}"\n'
            f'port = {port}\ncache = "{cache}"\nguard_concurrency = {CONCURRENCY}\n'
            f"max_concurrency = 4096\nmax_batch = 64\n"
        )
        env = {**os.environ, "TOGETHER_API_KEY": "loopback", "LLAMASHIELD_API_KEYS": KEY}
        process = subprocess.Popen(
            [sys.executable, "-c", "from llamashield.cli import main; main()", "serve",
             "--config", str(config)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/healthz").status_code == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("llamashield serve did not start")
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            process.wait(30)


def _summary(latencies: list[float], errors: int, seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50": statistics.median(ordered) * 1000,
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "rps": len(ordered) / seconds,
        "errors": errors,
        "requests": len(ordered) + errors,
    }


async def _in_process(guard_url: str, seconds: float) -> dict[str, float]:
    backend = TogetherBackend(MODEL, api_key="loopback", base_url=guard_url)
    guard = LlamaGuard(backend, max_concurrency=CONCURRENCY)
    await guard.awarm_up()
    numbers = iter(range(10**9))
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            n = next(numbers)
            started = time.perf_counter()
            verdict = await guard.acheck(text(n))
            if verdict.error or verdict.safe == (n % 5 == 0):
                errors += 1
            else:
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    await guard.aclose()
    return _summary(latencies, errors, elapsed)


def _locust() -> str | None:
    found = shutil.which("locust")
    local = HERE.parent / ".venv-locust" / "bin" / "locust"
    return found or (str(local) if local.exists() else None)


def _with_locust(locust: str, url: str, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        prefix = Path(folder, "run")
        subprocess.run(
            [locust, "-f", str(HERE / "_serve_locustfile.py"), "--headless", "-u",
             str(CONCURRENCY), "-r", str(CONCURRENCY), "-t", f"{seconds:g}s", "--host", url,
             "--csv", str(prefix), "--only-summary", "--loglevel", "ERROR"],
            env={**os.environ, "SERVE_BENCH_KEY": KEY}, check=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        with open(f"{prefix}_stats.csv", newline="") as handle:
            row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    return {
        "p50": float(row["50%"]),
        "p99": float(row["99%"]),
        "rps": float(row["Requests/s"]),
        "errors": float(row["Failure Count"]),
        "requests": float(row["Request Count"]),
    }


async def _with_httpx(url: str, seconds: float) -> dict[str, float]:
    """The fallback generator: 64 clients posting back to back, bounded by ``seconds``."""
    numbers = iter(range(10**9))
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                n = next(numbers)
                started = time.perf_counter()
                response = await client.post(
                    "/v1/moderations", json={"input": text(n)}, headers=HEADERS
                )
                ok = response.status_code == 200
                if ok and response.json()["results"][0]["flagged"] == (n % 5 == 0):
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return _summary(latencies, errors, time.perf_counter() - started)


def endpoint_vs_in_process(guard_url: str, seconds: float, rounds: int) -> list[tuple[str, ...]]:
    locust = _locust()
    generator = "locust (headless)" if locust else "httpx async generator (locust not found)"
    runs: dict[str, list[dict[str, float]]] = {"in-process": [], "endpoint": []}
    with serve_process(guard_url) as url:
        for _ in range(rounds):
            runs["in-process"].append(asyncio.run(_in_process(guard_url, seconds)))
            if locust:
                runs["endpoint"].append(_with_locust(locust, url, seconds))
            else:
                runs["endpoint"].append(asyncio.run(_with_httpx(url, seconds)))
    ratios = [
        e["p50"] / i["p50"] for e, i in zip(runs["endpoint"], runs["in-process"], strict=True)
    ]
    rows: list[tuple[str, ...]] = []
    for name, results in runs.items():
        p50 = statistics.median(r["p50"] for r in results)
        p99 = statistics.median(r["p99"] for r in results)
        rps = statistics.median(r["rps"] for r in results)
        errors = sum(r["errors"] for r in results)
        total = sum(r["requests"] for r in results)
        rows.append((f"{name}: p50 / p99", f"{p50:.1f} / {p99:.1f} ms", "", ""))
        rows.append((f"{name}: throughput, errors", f"{rps:.0f} req/s, {errors:.0f} of {total:.0f}",
                     "", "0 errors" if name == "endpoint" else ""))  # fmt: skip
    rows.append(("endpoint p50 / in-process p50 (per round)",
                 ", ".join(f"{r:.2f}x" for r in ratios),
                 f"{statistics.median(ratios):.2f}x", "<= 1.2x"))  # fmt: skip
    rows.append(("load generator", generator, "", ""))
    return rows


async def _replica_load(urls: list[str], requests: list[str]) -> tuple[int, int, int]:
    hits = errors = 0
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for item in enumerate(requests):
        queue.put_nowait(item)
    async with httpx.AsyncClient(
        timeout=30, limits=httpx.Limits(max_connections=CONCURRENCY)
    ) as client:

        async def worker() -> None:
            nonlocal hits, errors
            while not queue.empty():
                index, body = queue.get_nowait()
                response = await client.post(
                    f"{urls[index % len(urls)]}/v1/moderations", json={"input": body},
                    headers={"Authorization": f"Bearer {KEY}"},
                )  # fmt: skip
                if response.status_code != 200:
                    errors += 1
                    continue
                hits += bool(response.json()["results"][0]["llama_guard"]["cached"])

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return hits, errors, len(requests)


def replicas_sharing_redis(guard_url: str, distinct: int, repeats: int) -> list[tuple[str, ...]]:
    from llamashield.testing import RedisServer

    requests = [text(n) for n in range(distinct)] * repeats
    random.Random(7).shuffle(requests)
    with RedisServer() as redis, serve_process(guard_url, redis.url) as a, \
            serve_process(guard_url, redis.url) as b:  # fmt: skip
        hits, errors, total = asyncio.run(_replica_load([a, b], requests))
    best = 1 - distinct / total  # every distinct text misses once, at best
    return [
        ("requests over 2 replicas (distinct texts x repeats)",
         f"{total} ({distinct} x {repeats})", "", ""),
        ("answered from the shared Redis cache", f"{hits} of {total}, {errors} errors",
         f"{hits / total:.1%}", f">= 90% (best possible {best:.1%})"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="guard server seconds/answer")
    parser.add_argument("--seconds", type=float, default=15.0, help="per load run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--distinct", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with server_process(latency=args.latency) as guard_url:
        print_table(
            f"/v1/moderations vs guard.acheck in-process: {CONCURRENCY} concurrent clients, "
            f"guard server latency {args.latency * 1000:g} ms",
            endpoint_vs_in_process(guard_url, args.seconds, args.rounds),  # type: ignore[arg-type]
        )
        print_table(
            "Two replicas sharing Redis",
            replicas_sharing_redis(guard_url, args.distinct, args.repeats),  # type: ignore[arg-type]
        )


if __name__ == "__main__":
    main()
