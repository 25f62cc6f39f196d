"""What guarding a LangChain chain costs, as ratios measured side by side in one run.

1. ``guard_runnable(..., parallel=True)`` vs the unguarded chain, input check only, when the
   guard is as slow as the model: target <= 1.1x (sequential: about 2x).
2. A moderated stream of a safe 2,000-character answer vs the unguarded stream plus one guard
   latency: target <= 1.2x.

The guard is ``SimulatedBackend(latency=...)``; the model is a fake that sleeps per call or per
streamed word. Run: ``python benchmarks/langchain_bench.py [--latency 0.1] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable
from langchain_llamashield import guard_runnable
from langchain_llamashield.testing import ScriptedChatModel

from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend

SENTENCE = "The quick brown fox jumps over the lazy dog near the quiet river bank. "
ANSWER = (SENTENCE * (2000 // len(SENTENCE) + 1))[:2000]


def median_time(run: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def amedian_time(run: Callable[[], Awaitable[Any]], repeats: int) -> float:
    async def measure() -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            await run()
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    return asyncio.run(measure())


def drain(chain: Runnable[Any, Any], value: Any) -> Callable[[], int]:
    def run() -> int:
        return sum(1 for _ in chain.stream(value))

    return run


def adrain(chain: Runnable[Any, Any], value: Any) -> Callable[[], Awaitable[int]]:
    async def run() -> int:
        return len([c async for c in chain.astream(value)])

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1, help="guard and model latency (s)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    latency, repeats = args.latency, args.repeats

    guard = LlamaGuard(SimulatedBackend(latency=latency))
    prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
    question = {"question": "Tell me about foxes"}
    rows: list[tuple[str, float, float, str]] = []

    def compare(
        name: str, baseline: float, guarded: Runnable[Any, Any], mode: str, target: str
    ) -> None:
        measure: Callable[[], float] = {
            "invoke": lambda: median_time(lambda: guarded.invoke(question), repeats),
            "ainvoke": lambda: amedian_time(lambda: guarded.ainvoke(question), repeats),
            "stream": lambda: median_time(drain(guarded, question), repeats),
            "astream": lambda: amedian_time(adrain(guarded, question), repeats),
        }[mode]
        rows.append((name, baseline, measure(), target))

    # 1. The input check hidden behind the call (the guard as slow as the model).
    plain = prompt | ScriptedChatModel(answer="Foxes are quick.", delay=latency)
    sequential = guard_runnable(plain, guard, check_output=False)
    parallel = guard_runnable(plain, guard, check_output=False, parallel=True)
    base = median_time(lambda: plain.invoke(question), repeats)
    compare("invoke, sequential input check", base, sequential, "invoke", "~2x")
    compare("invoke, parallel=True", base, parallel, "invoke", "<= 1.1x")
    base = amedian_time(lambda: plain.ainvoke(question), repeats)
    compare("ainvoke, sequential input check", base, sequential, "ainvoke", "~2x")
    compare("ainvoke, parallel=True", base, parallel, "ainvoke", "<= 1.1x")

    # 2. A moderated stream of a safe 2,000-character answer (about 1 s of streaming); the
    # baseline is the unguarded stream plus one guard latency.
    words = len(ANSWER.split(" "))
    streamer = prompt | ScriptedChatModel(answer=ANSWER, chunk_delay=1.0 / words)
    moderated = guard_runnable(streamer, guard, check_input=False)
    both = guard_runnable(streamer, guard, parallel=True)
    wide = guard_runnable(streamer, guard, check_input=False, window=400)
    stream_bases = {
        "stream": median_time(drain(streamer, question), repeats) + latency,
        "astream": amedian_time(adrain(streamer, question), repeats) + latency,
    }
    for mode, base in stream_bases.items():
        compare(f"{mode} 2,000 chars, output moderated", base, moderated, mode, "<= 1.2x")
        compare(f"{mode}, + parallel input check", base, both, mode, "<= 1.2x")
        compare(f"{mode}, window=400 chars", base, wide, mode, "<= 1.2x")

    print(f"guard latency = model latency = {latency * 1000:.0f} ms; median of {repeats} runs")
    print("stream baselines: the unguarded stream plus one guard latency\n")
    print(f"{'scenario':<36} {'baseline s':>10} {'guarded s':>10} {'ratio':>7}  target")
    for name, baseline, guarded, target in rows:
        ratio = guarded / baseline
        print(f"{name:<36} {baseline:>10.3f} {guarded:>10.3f} {ratio:>6.2f}x  {target}")


if __name__ == "__main__":
    main()
