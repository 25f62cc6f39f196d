"""One guard (or guarded chain, or query engine) shared by many callers: each gets its own verdict.

Every caller sends a distinct input whose trigger words spell a distinct set of categories
(the bits of a number over S1-S11), so a verdict crossing over to another caller would show up
as the wrong set of codes, the wrong role, or a verdict for someone else's text.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from llamashield import LlamaGuard, UnsafeContentError, Verdict
from llamashield.backends import SimulatedBackend
from llamashield.testing import LoopbackServer

THREADS = 32
TASKS = 256
# One trigger per Llama Guard 2 category under the simulator's rules (and no other category).
TRIGGERS = {
    "S1": "murder", "S2": "steal", "S3": "grope", "S4": "child sexual", "S5": "exact dose of",
    "S6": "dox", "S7": "pirated", "S8": "bomb", "S9": "subhuman", "S10": "suicide",
    "S11": "porn",
}  # fmt: skip
CODES = list(TRIGGERS)


def expected_codes(caller: int) -> tuple[str, ...]:
    """The categories caller ``caller`` asks about: the bits of a number unique to it."""
    bits = (caller * 37) % 2048  # 37 is odd, so callers 0..2047 get 2,048 different sets
    return tuple(code for n, code in enumerate(CODES) if bits >> n & 1)


def text_for(caller: int) -> str:
    words = [TRIGGERS[code] for code in expected_codes(caller)]
    return f"Caller {caller} asks about: " + (", ".join(words) if words else "the weather")


def conversation_for(caller: int) -> Any:
    """Even callers send a user message; odd callers an agent answer after a question."""
    if caller % 2 == 0:
        return text_for(caller)
    return [{"role": "user", "content": f"Question from caller {caller}"},
            {"role": "assistant", "content": text_for(caller)}]  # fmt: skip


def assert_own_verdict(caller: int, verdict: Verdict) -> None:
    codes = expected_codes(caller)
    assert verdict.error is None, verdict.error
    assert verdict.codes == codes, f"caller {caller} got {verdict.codes}, expected {codes}"
    assert verdict.safe == (not codes)
    assert verdict.role == ("user" if caller % 2 == 0 else "agent")


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(latency=0.002) as running:
        yield running


GUARDS: dict[str, Callable[[LoopbackServer], LlamaGuard]] = {
    # A little latency makes calls overlap even on the in-process backend.
    "simulated": lambda _server: LlamaGuard(SimulatedBackend(latency=0.002)),
    "together": lambda server: server.guard(max_concurrency=64),
    "openai": lambda server: server.openai_guard(max_concurrency=64),
}


@pytest.fixture(params=list(GUARDS))
def guard(request: pytest.FixtureRequest, server: LoopbackServer) -> LlamaGuard:
    return GUARDS[request.param](server)


def run_in_threads(work: Callable[[int], None], callers: range, threads: int = THREADS) -> None:
    """Run ``work(caller)`` for every caller on ``threads`` threads started together."""
    barrier = threading.Barrier(threads)
    chunks = [callers[n::threads] for n in range(threads)]

    def thread(chunk: range) -> None:
        barrier.wait()
        for caller in chunk:
            work(caller)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(thread, chunks))  # re-raises the first failure


def test_32_threads_share_one_guard(guard: LlamaGuard) -> None:
    run_in_threads(lambda c: assert_own_verdict(c, guard.check(conversation_for(c))), range(256))


async def test_256_tasks_share_one_guard(guard: LlamaGuard) -> None:
    callers = range(1000, 1000 + TASKS)
    verdicts = await asyncio.gather(*(guard.acheck(conversation_for(c)) for c in callers))
    for caller, verdict in zip(callers, verdicts, strict=True):
        assert_own_verdict(caller, verdict)


def test_threads_and_tasks_at_the_same_time(guard: LlamaGuard) -> None:
    async def tasks() -> None:
        callers = range(1500, 1500 + TASKS)
        verdicts = await asyncio.gather(*(guard.acheck(conversation_for(c)) for c in callers))
        for caller, verdict in zip(callers, verdicts, strict=True):
            assert_own_verdict(caller, verdict)

    loop_thread = threading.Thread(target=asyncio.run, args=(tasks(),))
    loop_thread.start()
    run_in_threads(lambda c: assert_own_verdict(c, guard.check(conversation_for(c))),
                   range(300, 556))  # fmt: skip
    loop_thread.join()


def test_threads_each_running_their_own_event_loop(guard: LlamaGuard) -> None:
    """Per-loop clients and semaphores: eight loops at once, one guard."""

    def one_loop(first: int) -> None:
        callers = range(first, first + 32)

        async def main() -> list[Verdict]:
            return await guard.acheck_many([conversation_for(c) for c in callers])

        for caller, verdict in zip(callers, asyncio.run(main()), strict=True):
            assert_own_verdict(caller, verdict)

    run_in_threads(one_loop, range(600, 856, 32), threads=8)


def test_check_many_from_many_threads(guard: LlamaGuard) -> None:
    def batch(first: int) -> None:
        callers = range(first, first + 16)
        verdicts = guard.check_many([conversation_for(c) for c in callers])
        for caller, verdict in zip(callers, verdicts, strict=True):
            assert_own_verdict(caller, verdict)

    run_in_threads(batch, range(900, 900 + 16 * 16, 16), threads=16)


# -- adapters -------------------------------------------------------------------------------


def _answer(question: str) -> str:
    # Callers divisible by 3 get an answer that is itself unsafe (a different set of codes).
    caller = int(question.split()[1])
    return f"Answer: {text_for(caller + 1)}" if caller % 3 == 0 else f"Fine answer to {caller}"


def _assert_chain_outcome(caller: int, outcome: Any) -> None:
    """Unsafe input: blocked at input with its own codes; else the answer, judged on its own."""
    input_codes = expected_codes(caller)
    if input_codes:
        assert isinstance(outcome, UnsafeContentError) and outcome.stage == "input", outcome
        assert outcome.verdict.codes == input_codes
    elif caller % 3 == 0 and expected_codes(caller + 1):
        assert isinstance(outcome, UnsafeContentError) and outcome.stage == "output", outcome
        assert outcome.verdict.codes == expected_codes(caller + 1)
    else:
        assert not isinstance(outcome, BaseException), outcome
        assert str(getattr(outcome, "response", outcome)) == _answer(text_for(caller))


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except UnsafeContentError as exc:
        return exc


async def _aoutcome(call: Callable[[str], Awaitable[Any]], text: str) -> Any:
    try:
        return await call(text)
    except UnsafeContentError as exc:
        return exc


def test_one_langchain_guarded_chain_shared_by_threads_and_tasks(server: LoopbackServer) -> None:
    pytest.importorskip("langchain_core")
    runnables = pytest.importorskip("langchain_llamashield.runnables")
    from langchain_core.runnables import RunnableLambda

    async def _aanswer(question: str) -> str:
        await asyncio.sleep(0)
        return _answer(question)

    chain = runnables.guard_runnable(
        RunnableLambda(_answer, afunc=_aanswer), server.guard(max_concurrency=64)
    )
    run_in_threads(
        lambda c: _assert_chain_outcome(c, _outcome(lambda: chain.invoke(text_for(c)))),
        range(2000, 2128),
    )

    async def tasks() -> None:
        callers = range(2200, 2200 + TASKS)
        outcomes = await asyncio.gather(*(_aoutcome(chain.ainvoke, text_for(c)) for c in callers))
        for caller, outcome in zip(callers, outcomes, strict=True):
            _assert_chain_outcome(caller, outcome)

    asyncio.run(tasks())


def test_one_llamaindex_guarded_query_engine_shared_by_threads_and_tasks(
    server: LoopbackServer,
) -> None:
    llamashield_li = pytest.importorskip("llama_index.llamashield")
    from llama_index.core.query_engine import CustomQueryEngine

    class AnswerEngine(CustomQueryEngine):
        def custom_query(self, query_str: str) -> str:
            return _answer(query_str)

    engine = llamashield_li.GuardedQueryEngine(AnswerEngine(), server.guard(max_concurrency=64))
    run_in_threads(
        lambda c: _assert_chain_outcome(c, _outcome(lambda: engine.query(text_for(c)))),
        range(3000, 3128),
    )

    async def tasks() -> None:
        callers = range(3200, 3200 + TASKS)
        outcomes = await asyncio.gather(*(_aoutcome(engine.aquery, text_for(c)) for c in callers))
        for caller, outcome in zip(callers, outcomes, strict=True):
            _assert_chain_outcome(caller, outcome)

    asyncio.run(tasks())
