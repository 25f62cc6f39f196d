"""LlamaIndex adapter: what the node postprocessor costs on 10 retrieved nodes.

Run: ``python -m benchmarks.llamaindex_bench``. Every guard call takes 50 ms: in process
(``SimulatedBackend(latency=0.05)``: the adapter's own cost) and over HTTP to a loopback server
in its own process (Together SDK and OpenAI-compatible backends: adds the HTTP client's CPU per
call). All cases are measured side by side in this one run. Target: the postprocessor judges
the 10 nodes concurrently, so it costs about one guard latency (<= 1.3x of 50 ms), not ten.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from llama_index.core.schema import NodeWithScore, TextNode
from llama_index.llamashield import LlamaGuardNodePostprocessor

from benchmarks._common import interleaved, print_table, server_process
from llamashield import LlamaGuard
from llamashield.backends import OpenAICompatibleBackend, SimulatedBackend, TogetherBackend

LATENCY = 0.05
MODEL = "meta-llama/LlamaGuard-2-8b"


def nodes() -> list[NodeWithScore]:
    return [NodeWithScore(node=TextNode(text=f"Fact number {i} about Paris."), score=1.0)
            for i in range(10)]  # fmt: skip


def cases(
    name: str, guard: LlamaGuard, loop: asyncio.AbstractEventLoop
) -> dict[str, Callable[[], object]]:
    postprocessor = LlamaGuardNodePostprocessor(guard)

    def run_sync() -> object:
        assert len(postprocessor.postprocess_nodes(nodes())) == 10
        return None

    def run_async() -> object:
        assert len(loop.run_until_complete(postprocessor.apostprocess_nodes(nodes()))) == 10
        return None

    return {
        f"{name}|one guard check": lambda: guard.check("Fact number 0 about Paris."),
        f"{name}|postprocess_nodes (sync)": run_sync,
        f"{name}|apostprocess_nodes (async)": run_async,
    }


def main() -> None:
    loop = asyncio.new_event_loop()
    with server_process(latency=LATENCY) as url:
        simulated = LlamaGuard(SimulatedBackend(latency=LATENCY))
        together = LlamaGuard(TogetherBackend(MODEL, api_key="bench-key", base_url=url))
        openai = LlamaGuard(OpenAICompatibleBackend(f"{url}/v1", MODEL, logprobs=None))
        all_cases = {
            **cases("in process", simulated, loop),
            **cases("HTTP, Together SDK", together, loop),
            **cases("HTTP, OpenAI-compatible", openai, loop),
            "in process|for contrast: 10 checks one by one": lambda: [
                simulated.check(n.node.get_content()) for n in nodes()
            ],
        }
        times = interleaved(all_cases, rounds=5, per_round=3)
    loop.close()
    target = LATENCY * 1000
    rows = []
    for key, seconds in times.items():
        backend, measure = key.split("|")
        ms = seconds * 1000
        goal = "<= 1.30x" if "postprocess" in measure else ("~10x" if "contrast" in measure else "")
        rows.append((f"{backend}: {measure}", f"{ms:.1f} ms", f"{ms / target:.2f}x of 50 ms", goal))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print_table(f"LlamaGuardNodePostprocessor, 10 nodes, 50 ms guard ({os.cpu_count()} CPUs, "
                f"load {load})", rows)  # fmt: skip


if __name__ == "__main__":
    main()
