"""Core overhead: a guarded check vs the bare SDK and raw HTTP, concurrency, import time.

Run: ``.venv/bin/python benchmarks/core_bench.py``. Every ratio compares cases measured side by
side in this one run against one loopback server process.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time

import httpx
import together
from together.types.chat import ChatCompletionUserMessageParam

from benchmarks._common import interleaved, print_table, server_process
from llamashield import LlamaGuard
from llamashield.backends import OpenAICompatibleBackend, TogetherBackend

MODEL = "meta-llama/LlamaGuard-2-8b"
KEY = "bench-key"
# Typed as the SDK types its messages (a plain list of dicts is what the guard takes too).
MESSAGES: list[ChatCompletionUserMessageParam] = [
    {"role": "user", "content": "How do I bake bread?"}
]


def per_check_overhead(url: str) -> list[tuple[str, str, str, str]]:
    guard = LlamaGuard(TogetherBackend(MODEL, api_key=KEY, base_url=url))
    openai_guard = LlamaGuard(OpenAICompatibleBackend(f"{url}/v1", MODEL, logprobs=None))
    sdk = together.Together(api_key=KEY, base_url=url, max_retries=0)
    raw = httpx.Client()
    chat_body = {"model": MODEL, "messages": MESSAGES, "max_tokens": 20, "temperature": 0.0}
    prompt = openai_guard.prepare(MESSAGES).prompt
    completion_body = {"model": MODEL, "prompt": prompt, "max_tokens": 20, "temperature": 0.0}
    headers = {"Authorization": f"Bearer {KEY}"}
    times = interleaved(
        {
            "guard_together": lambda: guard.check(MESSAGES),
            "sdk": lambda: sdk.chat.completions.create(
                model=MODEL,
                messages=MESSAGES,
                max_tokens=20,
                temperature=0.0,
            ),
            "httpx_chat": lambda: raw.post(
                f"{url}/v1/chat/completions", json=chat_body, headers=headers
            ).json(),
            "guard_openai": lambda: openai_guard.check(MESSAGES),
            "httpx_completions": lambda: raw.post(
                f"{url}/v1/completions", json=completion_body, headers=headers
            ).json(),
        },
        rounds=15,
        per_round=20,
    )
    ms = {k: v * 1000 for k, v in times.items()}
    return [
        ("raw httpx POST (chat)", f"{ms['httpx_chat']:.2f} ms", "1.00x", ""),
        ("bare together SDK call", f"{ms['sdk']:.2f} ms",
         f"{ms['sdk'] / ms['httpx_chat']:.2f}x vs httpx", ""),
        ("LlamaGuard.check, TogetherBackend", f"{ms['guard_together']:.2f} ms",
         f"{ms['guard_together'] / ms['sdk']:.2f}x vs SDK", "<= 1.10x"),
        ("raw httpx POST (completions)", f"{ms['httpx_completions']:.2f} ms", "1.00x", ""),
        ("LlamaGuard.check, OpenAICompatibleBackend", f"{ms['guard_openai']:.2f} ms",
         f"{ms['guard_openai'] / ms['httpx_completions']:.2f}x vs httpx", "<= 1.20x"),
    ]  # fmt: skip


async def concurrency(
    url: str, n: int = 256, limit: int = 32, latency: float = 0.05
) -> list[tuple[str, str, str, str]]:
    guard = LlamaGuard(TogetherBackend(MODEL, api_key=KEY, base_url=url), max_concurrency=limit)
    sdk = together.AsyncTogether(api_key=KEY, base_url=url, max_retries=0)
    texts = [f"message number {i}" for i in range(n)]
    semaphore = asyncio.Semaphore(limit)

    async def bare(text: str) -> object:
        async with semaphore:
            return await sdk.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": text}], max_tokens=20,
                temperature=0.0,
            )  # fmt: skip

    async def run_guard() -> None:
        await guard.acheck_many(texts)

    async def run_sdk() -> None:
        await asyncio.gather(*(bare(t) for t in texts))

    await run_guard()
    await run_sdk()  # warm both connection pools
    samples: dict[str, list[float]] = {"guard": [], "sdk": []}
    for _ in range(5):
        for name, fn in (("guard", run_guard), ("sdk", run_sdk)):
            started = time.perf_counter()
            await fn()
            samples[name].append(time.perf_counter() - started)
    ideal = n / limit * latency
    g, s = statistics.median(samples["guard"]), statistics.median(samples["sdk"])
    return [
        (f"ideal ({n} x {latency * 1000:.0f} ms / {limit})", f"{ideal:.3f} s", "1.00x", ""),
        (f"bare AsyncTogether, semaphore {limit}", f"{s:.3f} s", f"{s / ideal:.2f}x ideal", ""),
        (f"acheck_many, max_concurrency={limit}", f"{g:.3f} s",
         f"{g / s:.2f}x SDK ({g / ideal:.2f}x ideal)", "<= 1.10x SDK"),
    ]  # fmt: skip


def import_time() -> list[tuple[str, str, str, str]]:
    def measure(code: str) -> float:
        runs = []
        for _ in range(7):
            out = subprocess.run(
                [sys.executable, "-c",
                 f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            runs.append(float(out.stdout))
        return statistics.median(runs) * 1000

    bare = measure("import llamashield")
    full = measure("from llamashield import LlamaGuard, Verdict")
    sdk = measure("import together")
    return [
        ("import llamashield", f"{bare:.0f} ms", "", "< 150 ms"),
        ("from llamashield import LlamaGuard, Verdict", f"{full:.0f} ms", "", "(pydantic)"),
        ("import together (for scale)", f"{sdk:.0f} ms", "", ""),
    ]


def main() -> None:
    with server_process() as url:
        print_table("Per-check overhead (loopback, 0 ms server)", per_check_overhead(url))
    with server_process(latency=0.05) as url:
        print_table("256 checks, concurrency 32, 50 ms server", asyncio.run(concurrency(url)))
    print_table("Import time (median of 7 fresh interpreters)", import_time())


if __name__ == "__main__":
    main()
