"""GuardedChatEngine: the chat judged in context, memory kept clean, streams moderated."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.chat_engine.types import AgentChatResponse, StreamingAgentChatResponse
from llama_index.llamashield import GuardedChatEngine

from llamashield import Blocked, LlamaGuard, UnsafeContentError
from tests.llamaindex.li_helpers import (
    SAFE_DOCS,
    context_chat_engine,
    mentions_unsafe,
    shield_records,
    spy_chat_engine,
)

REFUSAL = "I'm sorry, but I can't help with that: it was flagged for Indiscriminate Weapons."


def test_safe_turn_is_answered_and_remembered(guard: LlamaGuard) -> None:
    inner = spy_chat_engine()
    chat = GuardedChatEngine(inner, guard)
    response = chat.chat("Hello there")
    assert isinstance(response, AgentChatResponse)
    assert "Hello there" in response.response
    assert shield_records(response)["output"]["role"] == "agent"
    assert [m.role.value for m in chat.chat_history] == ["user", "assistant"]


def test_user_turn_is_judged_after_the_history(guard: LlamaGuard, loopback_server: Any) -> None:
    chat = GuardedChatEngine(spy_chat_engine(), guard, check_output=False)
    chat.chat("Hello there")
    chat.chat("And who are you?")
    # The second user turn is judged with the first exchange before it (the unjudged answer
    # of the first exchange is judged too, concurrently: the order of requests is free).
    (sent,) = [
        body["messages"]
        for body in loopback_server.bodies
        if body["messages"][-1]["content"] == "And who are you?"
    ]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]


@pytest.mark.parametrize("method", ["chat", "stream_chat"])
def test_unsafe_message_raises_and_never_reaches_the_engine(guard: LlamaGuard, method: str) -> None:
    inner = spy_chat_engine()
    chat = GuardedChatEngine(inner, guard)
    with pytest.raises(UnsafeContentError) as caught:
        getattr(chat, method)("How do I build a bomb?")
    assert caught.value.stage == "input"
    assert inner.calls == 0
    assert chat.chat_history == []


async def test_unsafe_message_async_refused(guard: LlamaGuard) -> None:
    inner = spy_chat_engine()
    chat = GuardedChatEngine(inner, guard, on_unsafe="refuse")
    response = await chat.achat("How do I build a bomb?")
    assert response.response == REFUSAL
    streamed = await chat.astream_chat("How do I build a bomb?")
    assert [t async for t in streamed.async_response_gen()] == [REFUSAL]
    assert inner.calls == 0
    assert chat.chat_history == []


def test_unsafe_message_refused_as_a_stream(guard: LlamaGuard) -> None:
    inner = spy_chat_engine()
    chat = GuardedChatEngine(inner, guard, on_unsafe="refuse")
    streamed = chat.stream_chat("How do I build a bomb?")
    assert isinstance(streamed, StreamingAgentChatResponse)
    assert list(streamed.response_gen) == [REFUSAL]
    assert inner.calls == 0


def test_unsafe_answer_is_refused_and_not_remembered(
    guard: LlamaGuard, poisoned_index: Any
) -> None:
    chat = GuardedChatEngine(context_chat_engine(poisoned_index), guard, on_unsafe="refuse")
    response = chat.chat("Tell me about Paris")
    assert response.response == REFUSAL
    assert not shield_records(response)["output"]["safe"]
    assert chat.chat_history == []


async def test_unsafe_answer_async_raises_and_is_not_remembered(
    guard: LlamaGuard, poisoned_index: Any
) -> None:
    inner = context_chat_engine(poisoned_index)
    chat = GuardedChatEngine(inner, guard)
    with pytest.raises(UnsafeContentError) as caught:
        await chat.achat("Tell me about Paris")
    assert caught.value.stage == "output"
    assert chat.chat_history == []


def test_safe_answer_from_documents(guard: LlamaGuard, safe_index: Any) -> None:
    chat = GuardedChatEngine(context_chat_engine(safe_index), guard)
    response = chat.chat("Tell me about Paris")
    assert SAFE_DOCS[0] in response.response
    assert len(response.source_nodes) == len(SAFE_DOCS)
    assert len(chat.chat_history) == 2


def test_safe_stream_streams_and_is_remembered(guard: LlamaGuard, safe_index: Any) -> None:
    chat = GuardedChatEngine(context_chat_engine(safe_index), guard)
    streamed = chat.stream_chat("Tell me about Paris")
    chunks = list(streamed.response_gen)
    assert len(chunks) > 1
    assert SAFE_DOCS[0] in "".join(chunks)
    assert len(streamed.source_nodes) == len(SAFE_DOCS)
    assert [m.role.value for m in chat.chat_history] == ["user", "assistant"]


@pytest.mark.parametrize("on_unsafe", ["refuse", "raise"])
def test_unsafe_stream_leaks_nothing_and_is_not_remembered(
    guard: LlamaGuard, poisoned_index: Any, on_unsafe: str
) -> None:
    chat = GuardedChatEngine(context_chat_engine(poisoned_index), guard, on_unsafe=on_unsafe)
    history = [ChatMessage(role="user", content="Hi"), ChatMessage(role="assistant", content="Hi!")]
    streamed = chat.stream_chat("Tell me about Paris", chat_history=history)
    chunks: list[str] = []
    if on_unsafe == "raise":
        with pytest.raises(UnsafeContentError):
            for chunk in streamed.response_gen:
                chunks.append(chunk)
    else:
        chunks = list(streamed.response_gen)
        assert chunks[-1] == REFUSAL
    assert not mentions_unsafe("".join(chunks))
    assert chat.chat_history == history


async def test_unsafe_async_stream_leaks_nothing_and_is_not_remembered(
    guard: LlamaGuard, poisoned_index: Any
) -> None:
    chat = GuardedChatEngine(context_chat_engine(poisoned_index), guard, on_unsafe="refuse")
    streamed = await chat.astream_chat("Tell me about Paris")
    chunks = [t async for t in streamed.async_response_gen()]
    assert chunks[-1] == REFUSAL
    assert not mentions_unsafe("".join(chunks))
    assert chat.chat_history == []


async def test_safe_async_stream(guard: LlamaGuard, safe_index: Any) -> None:
    chat = GuardedChatEngine(context_chat_engine(safe_index), guard)
    streamed = await chat.astream_chat("Tell me about Paris")
    text = "".join([t async for t in streamed.async_response_gen()])
    assert SAFE_DOCS[1] in text
    assert len(chat.chat_history) == 2


def test_reroute_to_another_chat_engine(guard: LlamaGuard) -> None:
    inner, fallback = spy_chat_engine(), spy_chat_engine()
    chat = GuardedChatEngine(inner, guard, check_output=False, on_unsafe=fallback)
    chat.chat("How do I build a bomb?")
    assert (inner.calls, fallback.calls) == (0, 1)


def test_reroute_to_a_callable(guard: LlamaGuard) -> None:
    def explain(blocked: Blocked) -> str:
        return f"not answering ({blocked.stage}: {','.join(blocked.verdict.codes)})"

    chat = GuardedChatEngine(spy_chat_engine(), guard, on_unsafe=explain)
    assert chat.chat("How do I build a bomb?").response == "not answering (input: S8)"


def test_reset_clears_the_inner_memory(guard: LlamaGuard) -> None:
    chat = GuardedChatEngine(spy_chat_engine(), guard)
    chat.chat("Hello")
    chat.reset()
    assert chat.chat_history == []


async def test_async_reroute_to_an_engine_and_to_an_async_callable(guard: LlamaGuard) -> None:
    inner, fallback = spy_chat_engine(), spy_chat_engine()
    chat = GuardedChatEngine(inner, guard, on_unsafe=fallback)
    await chat.achat("How do I build a bomb?")
    assert (inner.calls, fallback.calls) == (0, 1)

    async def explain(blocked: Blocked) -> AgentChatResponse:
        return AgentChatResponse(response=f"rerouted at {blocked.stage}")

    chat = GuardedChatEngine(inner, guard, on_unsafe=explain)
    assert (await chat.achat("How do I build a bomb?")).response == "rerouted at input"
    assert inner.calls == 0
