"""What judging whole conversations costs: ratios measured side by side in one run.

Run: ``.venv/bin/python -m benchmarks.conversation_bench``.

1. Steady state: a 20-turn chat through ``GuardedChatModel`` on a guard with a cache. Each
   turn the whole history is sent; every earlier message was judged in an earlier turn, so the
   guard's cost per turn should stay near a guard that judges the last turn only
   (``judge_history=False``). Target: <= 1.2x.
2. First sight: a 10-turn history a client sends at once (a chat API's ``messages=[...]``) on a
   guard server answering in 50 ms. Its unjudged turns run concurrently, so judging all of it
   should take about one check's wall time. Target: <= 1.5x one ``check`` of the last turn.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from functools import partial
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_llamashield import GuardedChatModel
from langchain_llamashield.testing import ScriptedChatModel

from benchmarks._common import paired, print_table, server_process
from llamashield import LlamaGuard
from llamashield.backends import TogetherBackend

MODEL = "meta-llama/LlamaGuard-2-8b"


def _guard(url: str, **options: Any) -> LlamaGuard:
    return LlamaGuard(TogetherBackend(MODEL, api_key="bench", base_url=url), **options)


def _chat(url: str, turns: int, *, judge_history: bool, tag: str) -> float:
    """Seconds the guard adds per turn over a 20-turn chat (model time excluded: it answers
    at once), measured over the turns after the first."""
    guard = _guard(url, cache=True, judge_history=judge_history)
    chat = GuardedChatModel(ScriptedChatModel(answer="Noted, tell me more."), guard)
    history: list[BaseMessage] = []
    samples = []
    for turn in range(turns):
        history.append(HumanMessage(f"{tag}: this is message {turn} of our chat about bread"))
        started = time.perf_counter()
        answer = chat.invoke(history)
        samples.append(time.perf_counter() - started)
        history.append(AIMessage(content=answer.content))
    guard.close()
    return statistics.median(samples[1:])


def steady_state(url: str, rounds: int) -> list[tuple[str, str, str, str]]:
    ratios, whole, last = [], [], []
    for round_ in range(rounds):  # alternate which goes first
        pair = [
            ("whole", partial(_chat, url, 20, judge_history=True, tag=f"w{round_}")),
            ("last", partial(_chat, url, 20, judge_history=False, tag=f"l{round_}")),
        ]
        if round_ % 2:
            pair.reverse()
        got = {name: fn() for name, fn in pair}
        whole.append(got["whole"])
        last.append(got["last"])
        ratios.append(got["whole"] / got["last"])
    ratio = statistics.median(ratios)
    return [
        ("20-turn chat, per turn, last turn only", f"{statistics.median(last) * 1e3:.2f} ms",
         "1.00x", ""),
        ("20-turn chat, per turn, every turn judged", f"{statistics.median(whole) * 1e3:.2f} ms",
         f"{ratio:.2f}x", "<= 1.2x"),
    ]  # fmt: skip


def first_sight(url: str, rounds: int) -> list[tuple[str, str, str, str]]:
    guard = _guard(url, max_concurrency=16)
    counter = iter(range(10**9))

    def history() -> list[dict[str, str]]:
        n = next(counter)  # fresh text each call: nothing is remembered from an earlier one
        roles = ["user", "assistant"] * 5
        return [{"role": r, "content": f"turn {i} of history {n}"} for i, r in enumerate(roles)]

    sync = paired(
        {
            "check (last turn)": lambda: guard.check(history()),
            "check_conversation (10 turns)": lambda: guard.check_conversation(history()),
        },
        base="check (last turn)",
        rounds=rounds,
        per_round=3,
    )

    async def on_one_loop() -> tuple[list[float], list[float]]:
        last_times: list[float] = []
        whole_times: list[float] = []
        for _ in range(3):  # warm-up: the loop's client and connections
            await guard.acheck(history())
        for round_ in range(rounds * 3):
            cases = [(last_times, guard.acheck), (whole_times, guard.acheck_conversation)]
            for times, fn in cases if round_ % 2 else cases[::-1]:
                started = time.perf_counter()
                await fn(history())
                times.append(time.perf_counter() - started)
        return last_times, whole_times

    last_times, whole_times = asyncio.run(on_one_loop())
    async_ratio = statistics.median(w / b for w, b in zip(whole_times, last_times, strict=True))
    rows = [
        (f"10-turn history first seen, sync {name}", f"{seconds * 1e3:.1f} ms", f"{ratio:.2f}x",
         "" if name.startswith("check (") else "<= 1.5x")
        for name, (seconds, ratio) in sync.items()
    ]  # fmt: skip
    rows += [
        ("10-turn history first seen, async acheck (last turn)",
         f"{statistics.median(last_times) * 1e3:.1f} ms", "1.00x", ""),
        ("10-turn history first seen, async acheck_conversation (10 turns)",
         f"{statistics.median(whole_times) * 1e3:.1f} ms", f"{async_ratio:.2f}x", "<= 1.5x"),
    ]  # fmt: skip
    return rows


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds = 3 if args.quick else 7
    with server_process(latency=0.002) as url:
        rows = steady_state(url, rounds)
    with server_process(latency=0.05) as url:
        rows += first_sight(url, rounds)
    print_table("Whole conversations: guard cost (ratios in one run)", rows)


if __name__ == "__main__":
    main()
