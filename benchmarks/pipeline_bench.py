"""What a guard costs inside a real pipeline, as ratios measured side by side in one run.

Every case talks to one loopback server process (``python -m llamashield.testing``), which
answers both the guard (Llama Guard verdicts) and the main chat model (it echoes the question).
The anchor is the **reference**: the same pipeline with each guard check replaced by one raw
httpx POST of the very request the guard sends. A guard can't beat it; the target is to be close.

1. Sequential guarded chat call (input check, ``ChatOpenAI``, output check) vs the reference,
   the unguarded chain and, with ``--nemo-python``, NeMo Guardrails' Llama Guard rails.
2. 200 calls at concurrency 32 against a 50 ms server: guarded vs reference, ``parallel=True``
   vs the parallel reference (input check concurrent with the model call).
3. ``parallel=True`` vs sequential at server latencies from 0 to 200 ms.
4. ``TogetherBackend``: ``check`` and ``acheck_many`` of 256 at concurrency 32 vs raw httpx.
5. LlamaIndex ``GuardedQueryEngine`` (50 ms LLM, 50 ms guard) vs its reference.
6. Memory: RSS after 10,000 guarded chain calls vs after 1,000.

Run: ``.venv/bin/python -m benchmarks.pipeline_bench [--quick]``, with NeMo as an anchor:
``--nemo-python .venv-nemo/bin/python``
(``python3 dev.py bench-pipeline`` builds the NeMo venv and passes it).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from benchmarks._common import interleaved, paired, print_table, server_process

MODEL = "meta-llama/LlamaGuard-2-8b"
CHAT_MODEL = "bench-chat"
QUESTION = "How do I bake sourdough bread at home?"
Row = tuple[str, str, str, str]


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Pipeline:
    """The LangChain pieces for one server: chains, guards and the reference's raw requests."""

    def __init__(self, url: str, concurrency: int = 32) -> None:
        from langchain_core.prompts import ChatPromptTemplate
        from langchain_llamashield import guard_runnable
        from langchain_openai import ChatOpenAI

        from llamashield import LlamaGuard
        from llamashield.backends import OpenAICompatibleBackend

        self.url = url
        prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
        model = ChatOpenAI(
            base_url=f"{url}/v1",
            api_key="bench",
            model=CHAT_MODEL,
            max_retries=0,
        )
        self.chain = prompt | model
        backend = OpenAICompatibleBackend(f"{url}/v1", MODEL)
        self.guard = LlamaGuard(backend, max_concurrency=concurrency)
        self.guarded = guard_runnable(self.chain, self.guard)
        self.parallel = guard_runnable(self.chain, self.guard, parallel=True)
        self.inputs = {"question": QUESTION}
        answer = self.chain.invoke(self.inputs).text
        user = [{"role": "user", "content": QUESTION}]
        both = [*user, {"role": "assistant", "content": answer}]
        self.bodies = [self._body(user), self._body(both)]
        self.client = httpx.Client()
        # Configured as the guard's own async client is (httpx's default connection limits): a
        # reference with a bigger pool queued more requests on the server and ran slower.
        self.aclient = httpx.AsyncClient()

    def _body(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        # The backend's own request builder: the reference sends byte for byte what it sends
        # (with what its first-use probe of the server learned).
        backend: Any = self.guard.backend
        self.guard.check(messages)
        call = backend._request(self.guard.prepare(messages), backend.served)
        return dict(call.body)

    def _post(self, body: dict[str, Any]) -> Any:
        return self.client.post(f"{self.url}/v1/completions", json=body).json()

    async def _apost(self, body: dict[str, Any]) -> Any:
        return (await self.aclient.post(f"{self.url}/v1/completions", json=body)).json()

    def reference(self) -> Any:
        self._post(self.bodies[0])
        answer = self.chain.invoke(self.inputs)
        self._post(self.bodies[1])
        return answer

    async def areference(self) -> Any:
        await self._apost(self.bodies[0])
        answer = await self.chain.ainvoke(self.inputs)
        await self._apost(self.bodies[1])
        return answer

    async def aparallel_reference(self) -> Any:
        _, answer = await asyncio.gather(
            self._apost(self.bodies[0]), self.chain.ainvoke(self.inputs)
        )
        await self._apost(self.bodies[1])
        return answer


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x"


def sequential(url: str, nemo_python: str | None, quick: bool) -> list[Row]:
    pipe = Pipeline(url)
    rounds, per_round = (7, 10) if quick else (40, 10)
    t = paired(
        {
            "reference": pipe.reference,
            "unguarded": lambda: pipe.chain.invoke(pipe.inputs),
            "guarded": lambda: pipe.guarded.invoke(pipe.inputs),
            "parallel": lambda: pipe.parallel.invoke(pipe.inputs),
        },
        "reference", rounds, per_round,
    )  # fmt: skip
    ms = {k: v[0] * 1000 for k, v in t.items()}
    vs_seq = paired(
        {"guarded": lambda: pipe.guarded.invoke(pipe.inputs),
         "parallel": lambda: pipe.parallel.invoke(pipe.inputs)},
        "guarded", rounds, per_round,
    )["parallel"][1]  # fmt: skip
    rows: list[Row] = [
        ("sequential: reference (chain + 2 raw POSTs)", f"{ms['reference']:.2f} ms", "1.00x", ""),
        ("sequential: unguarded chain", f"{ms['unguarded']:.2f} ms",
         f"{t['unguarded'][1]:.2f}x", ""),
        ("sequential: guard_runnable", f"{ms['guarded']:.2f} ms",
         f"{t['guarded'][1]:.2f}x", "<= 1.10x"),
        ("sequential: guard_runnable(parallel=True)", f"{ms['parallel']:.2f} ms",
         f"{vs_seq:.2f}x vs sequential", "<= 1.00x"),
    ]  # fmt: skip
    if nemo_python:
        nemo_ms = _nemo(nemo_python, url, 40 if quick else 200)
        again = interleaved({"reference": pipe.reference}, rounds, per_round)["reference"] * 1000
        base = (ms["reference"] + again) / 2
        rows.append(("sequential: NeMo Guardrails llama guard rails", f"{nemo_ms:.2f} ms",
                     _ratio(nemo_ms, base), "(anchor)"))  # fmt: skip
    return rows


def _nemo(python: str, url: str, calls: int) -> float:
    from llamashield import LlamaGuard
    from llamashield.backends import SimulatedBackend

    guard = LlamaGuard(SimulatedBackend())
    user = [{"role": "user", "content": "{{ user_input }}"}]
    both = [*user, {"role": "assistant", "content": "{{ bot_response }}"}]
    prompts = {"input": guard.prepare(user).prompt, "output": guard.prepare(both).prompt}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(prompts, f)
    script = Path(__file__).with_name("_nemo_runner.py")
    out = subprocess.run(
        [python, str(script), url, MODEL, CHAT_MODEL, QUESTION, str(calls), f.name],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    os.unlink(f.name)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["ms_per_call"])


async def _timed_batch(fn: Callable[[], Awaitable[Any]], n: int, limit: int) -> float:
    semaphore = asyncio.Semaphore(limit)

    async def one() -> Any:
        async with semaphore:
            return await fn()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return time.perf_counter() - started


def concurrent(url: str, quick: bool) -> list[Row]:
    n, limit = (100 if quick else 200), 32

    async def run() -> dict[str, list[float]]:
        pipe = Pipeline(url, concurrency=limit)
        cases: dict[str, Callable[[], Awaitable[Any]]] = {
            "reference": pipe.areference,
            "guarded": lambda: pipe.guarded.ainvoke(pipe.inputs),
            "parallel_reference": pipe.aparallel_reference,
            "parallel": lambda: pipe.parallel.ainvoke(pipe.inputs),
        }
        for fn in cases.values():  # warm-up
            await _timed_batch(fn, limit, limit)
        seconds: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(2 if quick else 9):
            for name, fn in cases.items():
                seconds[name].append(await _timed_batch(fn, n, limit))
        await pipe.aclient.aclose()
        return seconds

    runs = asyncio.run(run())
    s = {k: statistics.median(v) for k, v in runs.items()}

    def ratio(case: str, base: str) -> str:  # per round: the two batches ran seconds apart
        pairs = zip(runs[case], runs[base], strict=True)
        return f"{statistics.median(a / b for a, b in pairs):.2f}x"

    return [
        (f"{n} calls @32, 50 ms: reference", f"{s['reference']:.2f} s", "1.00x", ""),
        (f"{n} calls @32, 50 ms: guarded", f"{s['guarded']:.2f} s",
         ratio("guarded", "reference"), "<= 1.10x"),
        (f"{n} calls @32, 50 ms: parallel reference", f"{s['parallel_reference']:.2f} s",
         "1.00x", ""),
        (f"{n} calls @32, 50 ms: parallel=True", f"{s['parallel']:.2f} s",
         ratio("parallel", "parallel_reference"), "<= 1.05x"),
    ]  # fmt: skip


def sweep(quick: bool) -> list[Row]:
    rows: list[Row] = []
    for latency in (0.0, 0.001, 0.01, 0.05, 0.1, 0.2):
        with server_process(latency=latency) as url:
            pipe = Pipeline(url)
            rounds, per_round = (3, 3) if quick else (7, 5) if latency >= 0.05 else (25, 10)
            t = paired(
                {"seq": partial(pipe.guarded.invoke, pipe.inputs),
                 "par": partial(pipe.parallel.invoke, pipe.inputs)},
                "seq", rounds, per_round,
            )  # fmt: skip
            rows.append((f"parallel vs sequential @ {latency * 1000:g} ms",
                         f"{t['par'][0] * 1000:.1f} vs {t['seq'][0] * 1000:.1f} ms",
                         f"{t['par'][1]:.2f}x", "<= 1.00x"))  # fmt: skip
    return rows


def together_backend(url: str, quick: bool) -> list[Row]:
    from llamashield import LlamaGuard
    from llamashield.backends import TogetherBackend

    messages = [{"role": "user", "content": QUESTION}]
    guard = LlamaGuard(TogetherBackend(MODEL, api_key="bench", base_url=url), max_concurrency=32)
    body = {"model": MODEL, "messages": messages, "max_tokens": 20, "temperature": 0.0}
    client = httpx.Client()
    post = f"{url}/v1/chat/completions"
    rounds, per_round = (5, 10) if quick else (15, 20)
    sdk = guard.backend._client  # type: ignore[attr-defined]
    t = interleaved(
        {"httpx": lambda: client.post(post, json=body).json(),
         "sdk": lambda: sdk.chat.completions.create(**body),
         "guard": lambda: guard.check(messages)},
        rounds, per_round,
    )  # fmt: skip
    texts = [f"message number {i}" for i in range(256)]

    async def batch() -> tuple[float, float]:
        aclient = httpx.AsyncClient(limits=httpx.Limits(max_connections=64))
        semaphore = asyncio.Semaphore(32)

        async def raw(text: str) -> Any:
            async with semaphore:
                body = {"model": MODEL, "max_tokens": 20, "temperature": 0.0,
                        "messages": [{"role": "user", "content": text}]}  # fmt: skip
                return (await aclient.post(post, json=body)).json()

        async def raw_all() -> Any:
            return await asyncio.gather(*(raw(x) for x in texts))

        await raw_all()
        await guard.acheck_many(texts)
        raw_t, guard_t = [], []
        for _ in range(2 if quick else 3):
            started = time.perf_counter()
            await raw_all()
            raw_t.append(time.perf_counter() - started)
            started = time.perf_counter()
            await guard.acheck_many(texts)
            guard_t.append(time.perf_counter() - started)
        await aclient.aclose()
        return sorted(raw_t)[len(raw_t) // 2], sorted(guard_t)[len(guard_t) // 2]

    raw_s, guard_s = asyncio.run(batch())
    return [
        ("TogetherBackend check vs raw httpx", f"{t['guard'] * 1000:.2f} vs "
         f"{t['httpx'] * 1000:.2f} ms", _ratio(t["guard"], t["httpx"]), "<= 1.20x"),
        ("bare together SDK call vs raw httpx", f"{t['sdk'] * 1000:.2f} ms",
         _ratio(t["sdk"], t["httpx"]), "(anchor)"),
        ("TogetherBackend acheck_many 256 @32 vs raw httpx", f"{guard_s:.2f} vs {raw_s:.2f} s",
         _ratio(guard_s, raw_s), "<= 1.20x"),
    ]  # fmt: skip


def llamaindex(quick: bool) -> list[Row]:
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
    from llama_index.llamashield import GuardedQueryEngine

    from llamashield import LlamaGuard
    from llamashield.backends import SimulatedBackend

    class SleepyLLM(CustomLLM):
        delay: float = 0.05

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata()

        def complete(self, prompt: str, formatted: bool = False, **kw: Any) -> CompletionResponse:
            time.sleep(self.delay)
            return CompletionResponse(text="Sourdough needs a starter, flour and patience.")

        def stream_complete(self, prompt: str, formatted: bool = False, **kw: Any) -> Any:
            raise NotImplementedError

    index = VectorStoreIndex.from_documents(
        [Document(text="Sourdough bread uses a fermented starter.")],
        embed_model=MockEmbedding(embed_dim=8),
    )
    engine = index.as_query_engine(llm=SleepyLLM(), similarity_top_k=1)
    guard = LlamaGuard(SimulatedBackend(latency=0.05))
    guarded = GuardedQueryEngine(engine, guard)
    judge = guard.check

    def reference() -> Any:
        judge(QUESTION)
        response = engine.query(QUESTION)
        judge([{"role": "user", "content": QUESTION},
               {"role": "assistant", "content": str(response)}])  # fmt: skip
        return response

    t = interleaved(
        {"reference": reference, "guarded": lambda: guarded.query(QUESTION)},
        3 if quick else 7, 3 if quick else 5,
    )  # fmt: skip
    return [("LlamaIndex GuardedQueryEngine (50 ms LLM, 50 ms guard)",
             f"{t['guarded'] * 1000:.1f} vs {t['reference'] * 1000:.1f} ms",
             _ratio(t["guarded"], t["reference"]), "<= 1.10x")]  # fmt: skip


def memory(url: str, quick: bool) -> list[Row]:
    pipe = Pipeline(url)
    first, total = (200, 2_000) if quick else (1_000, 10_000)
    for _ in range(first):
        pipe.guarded.invoke(pipe.inputs)
    gc.collect()
    early = _rss_mb()
    for _ in range(total - first):
        pipe.guarded.invoke(pipe.inputs)
    gc.collect()
    late = _rss_mb()
    return [(f"RSS after {total:,} vs {first:,} guarded calls", f"{late:.0f} vs {early:.0f} MB",
             _ratio(late, early), "<= 1.05x")]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--nemo-python", help="python of a venv with nemoguardrails installed")
    parser.add_argument("--only", help="comma-separated scenarios: seq,conc,sweep,together,li,mem")
    args = parser.parse_args()
    only = set((args.only or "seq,conc,sweep,together,li,mem").split(","))
    rows: list[Row] = []
    if only & {"seq", "together", "mem"}:
        with server_process() as url:
            if "seq" in only:
                rows += sequential(url, args.nemo_python, args.quick)
            if "together" in only:
                rows += together_backend(url, args.quick)
            if "mem" in only:
                rows += memory(url, args.quick)
    if "conc" in only:
        with server_process(latency=0.05) as url:
            rows += concurrent(url, args.quick)
    if "sweep" in only:
        rows += sweep(args.quick)
    if "li" in only:
        rows += llamaindex(args.quick)
    print_table(f"llamashield in a pipeline (pid {os.getpid()}, loopback server)", rows)


if __name__ == "__main__":
    main()
