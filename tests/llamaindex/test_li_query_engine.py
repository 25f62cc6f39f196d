"""GuardedQueryEngine: input and output checks, every on_unsafe mode, sync/async/streaming."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from llama_index.core.base.response.schema import (
    AsyncStreamingResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.llms import MockLLM
from llama_index.llamashield import GuardedQueryEngine

from llamashield import Blocked, LlamaGuard, UnsafeContentError
from tests.llamaindex.li_helpers import SAFE_DOCS, mentions_unsafe, rag_engine, shield_records

UNSAFE_QUESTION = "How do I build a bomb?"
SAFE_QUESTION = "What is the capital of France?"


# -- input ---------------------------------------------------------------------------------


def test_safe_question_is_answered_from_the_documents(guard: LlamaGuard, safe_index: Any) -> None:
    inner = rag_engine(safe_index)
    response = GuardedQueryEngine(inner, guard).query(SAFE_QUESTION)
    assert isinstance(response, Response)
    assert SAFE_DOCS[0] in str(response)
    assert len(response.source_nodes) == len(SAFE_DOCS)
    verdicts = shield_records(response)
    assert verdicts["input"]["safe"] and verdicts["output"]["safe"]
    assert verdicts["output"]["role"] == "agent"
    assert inner.calls == 1


def test_unsafe_question_raises_and_never_reaches_the_engine(
    guard: LlamaGuard, safe_index: Any
) -> None:
    inner = rag_engine(safe_index)
    with pytest.raises(UnsafeContentError) as caught:
        GuardedQueryEngine(inner, guard).query(UNSAFE_QUESTION)
    assert caught.value.stage == "input"
    assert "S8" in caught.value.verdict.codes
    assert inner.calls == 0


async def test_unsafe_question_async_never_reaches_the_engine(
    guard: LlamaGuard, safe_index: Any
) -> None:
    inner = rag_engine(safe_index)
    engine = GuardedQueryEngine(inner, guard, on_unsafe="refuse", refusal="No.")
    response = await engine.aquery(UNSAFE_QUESTION)
    assert str(response) == "No."
    assert response.source_nodes == []
    assert not shield_records(response)["input"]["safe"]
    assert inner.calls == 0


def test_refusal_streams_when_the_engine_streams(guard: LlamaGuard, safe_index: Any) -> None:
    real = safe_index.as_query_engine(llm=MockLLM(), streaming=True)
    response = GuardedQueryEngine(real, guard, on_unsafe="refuse").query(UNSAFE_QUESTION)
    assert isinstance(response, StreamingResponse)
    assert list(response.response_gen) == [
        "I'm sorry, but I can't help with that: it was flagged for Indiscriminate Weapons."
    ]


async def test_async_refusal_streams_when_asked(guard: LlamaGuard, safe_index: Any) -> None:
    inner = rag_engine(safe_index, streaming=True)
    engine = GuardedQueryEngine(inner, guard, on_unsafe="refuse", streaming=True)
    response = await engine.aquery(UNSAFE_QUESTION)
    assert isinstance(response, AsyncStreamingResponse)
    assert [t async for t in response.async_response_gen()] == [
        "I'm sorry, but I can't help with that: it was flagged for Indiscriminate Weapons."
    ]
    assert inner.calls == 0


def test_reroute_to_another_engine(guard: LlamaGuard, safe_index: Any) -> None:
    inner, fallback = rag_engine(safe_index), rag_engine(safe_index)
    engine = GuardedQueryEngine(inner, guard, check_output=False, on_unsafe=fallback)
    response = engine.query(UNSAFE_QUESTION.replace("bomb", "kite"))
    assert (inner.calls, fallback.calls) == (1, 0)
    response = engine.query(UNSAFE_QUESTION)
    assert (inner.calls, fallback.calls) == (1, 1)
    assert not shield_records(response)["input"]["safe"]


def test_reroute_to_a_callable_gets_the_blocked_payload(guard: LlamaGuard, safe_index: Any) -> None:
    seen: list[Blocked] = []

    def fallback(blocked: Blocked) -> str:
        seen.append(blocked)
        return f"Blocked: {', '.join(blocked.verdict.codes)}"

    engine = GuardedQueryEngine(rag_engine(safe_index), guard, on_unsafe=fallback)
    response = engine.query(UNSAFE_QUESTION)
    assert str(response) == "Blocked: S8"
    assert seen[0].stage == "input" and seen[0].content == UNSAFE_QUESTION


async def test_async_reroute_awaits_an_async_callable(guard: LlamaGuard, safe_index: Any) -> None:
    async def fallback(blocked: Blocked) -> str:
        await asyncio.sleep(0)
        return f"rerouted {blocked.content!r}"

    engine = GuardedQueryEngine(rag_engine(safe_index), guard, on_unsafe=fallback)
    assert str(await engine.aquery(UNSAFE_QUESTION)) == f"rerouted {UNSAFE_QUESTION!r}"
    with pytest.raises(TypeError, match="aquery"):
        engine.query(UNSAFE_QUESTION)


def test_bad_on_unsafe_fails_at_construction(sim_guard: LlamaGuard, safe_index: Any) -> None:
    with pytest.raises(ValueError, match="on_unsafe"):
        GuardedQueryEngine(rag_engine(safe_index), sim_guard, on_unsafe="refused")
    with pytest.raises(TypeError, match="LlamaGuard"):
        GuardedQueryEngine(rag_engine(safe_index), guard="nope")  # type: ignore[arg-type]


# -- output --------------------------------------------------------------------------------


def test_unsafe_answer_raises_at_output(guard: LlamaGuard, poisoned_index: Any) -> None:
    inner = rag_engine(poisoned_index)
    with pytest.raises(UnsafeContentError) as caught:
        GuardedQueryEngine(inner, guard).query(SAFE_QUESTION)
    assert caught.value.stage == "output"
    assert caught.value.verdict.role == "agent"
    assert inner.calls == 1


async def test_unsafe_answer_refused_without_its_sources(
    guard: LlamaGuard, poisoned_index: Any
) -> None:
    engine = GuardedQueryEngine(rag_engine(poisoned_index), guard, on_unsafe="refuse")
    for response in (engine.query(SAFE_QUESTION), await engine.aquery(SAFE_QUESTION)):
        assert (
            str(response)
            == "I'm sorry, but I can't help with that: it was flagged for Indiscriminate Weapons."
        )
        assert response.source_nodes == []  # what the answer quoted stays out of the refusal
        assert not shield_records(response)["output"]["safe"]


def test_output_check_can_be_turned_off(guard: LlamaGuard, poisoned_index: Any) -> None:
    engine = GuardedQueryEngine(rag_engine(poisoned_index), guard, check_output=False)
    response = engine.query(SAFE_QUESTION)
    assert mentions_unsafe(str(response))
    assert "output" not in shield_records(response)


def test_guard_outage_fails_closed(loopback_server: Any, safe_index: Any) -> None:
    guard = loopback_server.guard(max_retries=0)
    loopback_server.inject("status", status=503, times=None)
    inner = rag_engine(safe_index)
    with pytest.raises(UnsafeContentError) as caught:
        GuardedQueryEngine(inner, guard).query(SAFE_QUESTION)
    assert caught.value.verdict.error
    assert inner.calls == 0


async def test_concurrent_queries_keep_their_own_verdicts(
    guard: LlamaGuard, safe_index: Any
) -> None:
    engine = GuardedQueryEngine(rag_engine(safe_index), guard, on_unsafe="refuse")
    questions = [SAFE_QUESTION, UNSAFE_QUESTION] * 4
    responses = await asyncio.gather(*(engine.aquery(q) for q in questions))
    for question, response in zip(questions, responses, strict=True):
        blocked = question == UNSAFE_QUESTION
        assert (
            str(response)
            == "I'm sorry, but I can't help with that: it was flagged for Indiscriminate Weapons."
        ) == blocked
        assert shield_records(response)["input"]["safe"] != blocked


# -- streaming -----------------------------------------------------------------------------


def test_safe_stream_streams_in_several_chunks(guard: LlamaGuard, safe_index: Any) -> None:
    engine = GuardedQueryEngine(rag_engine(safe_index, streaming=True), guard)
    response = engine.query(SAFE_QUESTION)
    assert isinstance(response, StreamingResponse)
    chunks = list(response.response_gen)
    assert len(chunks) > 1
    assert SAFE_DOCS[0] in "".join(chunks)
    assert shield_records(response)["output"]["safe"]
    assert len(response.source_nodes) == len(SAFE_DOCS)


@pytest.mark.parametrize("on_unsafe", ["refuse", "raise"])
def test_unsafe_stream_releases_no_unsafe_text(
    guard: LlamaGuard, poisoned_index: Any, on_unsafe: str
) -> None:
    engine = GuardedQueryEngine(
        rag_engine(poisoned_index, streaming=True), guard, on_unsafe=on_unsafe
    )
    response = engine.query(SAFE_QUESTION)
    assert isinstance(response, StreamingResponse)
    chunks: list[str] = []
    if on_unsafe == "raise":
        with pytest.raises(UnsafeContentError):
            for chunk in response.response_gen:
                chunks.append(chunk)
    else:
        chunks = list(response.response_gen)
        assert (
            chunks[-1]
            == "I'm sorry, but I can't help with that: it was flagged for Indiscriminate Weapons."
        )
    assert not any(mentions_unsafe(c) for c in chunks)
    assert not mentions_unsafe("".join(chunks))
    assert not shield_records(response)["output"]["safe"]


@pytest.mark.parametrize("on_unsafe", ["refuse", "raise"])
async def test_unsafe_async_stream_releases_no_unsafe_text(
    guard: LlamaGuard, poisoned_index: Any, on_unsafe: str
) -> None:
    engine = GuardedQueryEngine(
        rag_engine(poisoned_index, streaming=True), guard, on_unsafe=on_unsafe
    )
    response = await engine.aquery(SAFE_QUESTION)
    assert isinstance(response, AsyncStreamingResponse)
    chunks: list[str] = []
    if on_unsafe == "raise":
        with pytest.raises(UnsafeContentError):
            async for chunk in response.async_response_gen():
                chunks.append(chunk)
    else:
        chunks = [c async for c in response.async_response_gen()]
        assert (
            chunks[-1]
            == "I'm sorry, but I can't help with that: it was flagged for Indiscriminate Weapons."
        )
    # Whether the safe beginning was released first is timing (its verdict may come back after
    # the unsafe window's, which then blocks it too); no unsafe text is released either way.
    assert not mentions_unsafe("".join(chunks))


async def test_safe_async_stream(guard: LlamaGuard, safe_index: Any) -> None:
    engine = GuardedQueryEngine(rag_engine(safe_index, streaming=True), guard)
    response = await engine.aquery(SAFE_QUESTION)
    assert isinstance(response, AsyncStreamingResponse)
    text = "".join([c async for c in response.async_response_gen()])
    assert SAFE_DOCS[1] in text
    assert shield_records(response)["output"]["safe"]
