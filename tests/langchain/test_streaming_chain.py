"""Moderated streaming through ``guard_runnable``: no unsafe word ever reaches the consumer.

Chains stream through ``stream``, ``astream`` and ``astream_events``; the guard is the loopback
server; the model is a scripted fake streaming word by word.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessageChunk
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableGenerator, RunnableLambda
from langchain_llamashield import GuardedChatModel, guard_runnable

from llamashield import LlamaGuard, UnsafeContentError
from llamashield._blocked import DEFAULT_REFUSAL
from llamashield.backends import SimulatedBackend
from llamashield.testing import LoopbackServer

REFUSAL = DEFAULT_REFUSAL.format(categories="Indiscriminate Weapons")

Scripted = Callable[..., Any]  # the `scripted` fixture: builds a ScriptedChatModel
prompt = ChatPromptTemplate.from_messages([("human", "{question}")])

SAFE_ANSWER = (
    "Paris is the capital of France. It sits on the Seine. "
    "It is known for its museums, its cafes and its long history."
)
UNSAFE_ANSWER = (
    "Happy to help with your project. First, gather some explosives from a quarry. "
    "Then attach the detonator. Finally, hide the bomb where nobody looks."
)
UNSAFE_WORDS = ("explosives", "detonator", "bomb")


def text_of(chunks: list[Any]) -> str:
    return "".join(str(c.content) if isinstance(c, AIMessageChunk) else str(c) for c in chunks)


def assert_clean(text: str) -> None:
    assert not any(word in text for word in UNSAFE_WORDS), text


class TokenRecorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.tokens.append(token)


def test_a_safe_stream_is_released_whole(guard: LlamaGuard, scripted: Scripted) -> None:
    chain = guard_runnable(prompt | scripted(SAFE_ANSWER) | StrOutputParser(), guard)
    chunks = list(chain.stream({"question": "Tell me about Paris"}))
    assert "".join(chunks) == SAFE_ANSWER and len(chunks) > 3  # streamed, not one block


async def test_a_safe_astream_is_released_whole(
    guard: LlamaGuard, scripted: Scripted, loopback_server: LoopbackServer
) -> None:
    chain = guard_runnable(prompt | scripted(SAFE_ANSWER), guard)
    chunks = [c async for c in chain.astream({"question": "Tell me about Paris"})]
    assert text_of(chunks) == SAFE_ANSWER
    # one input check, then one check per sentence window (each judged with what came before)
    assert loopback_server.count("chat/completions") == 1 + 3


def test_character_windows(
    guard: LlamaGuard, scripted: Scripted, loopback_server: LoopbackServer
) -> None:
    chain = guard_runnable(prompt | scripted(SAFE_ANSWER), guard, window=40)
    assert text_of(list(chain.stream({"question": "Paris?"}))) == SAFE_ANSWER
    assert loopback_server.count("chat/completions") == 1 + -(-len(SAFE_ANSWER) // 40)


def test_an_unsafe_answer_raises_before_its_words_and_stops_the_model(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    model = scripted(UNSAFE_ANSWER * 5, chunk_delay=0.01)  # time to block mid-stream
    released: list[Any] = []
    with pytest.raises(UnsafeContentError) as caught:
        for chunk in guard_runnable(prompt | model, guard).stream({"question": "Help me"}):
            released.append(chunk)
    assert caught.value.stage == "output" and caught.value.verdict.codes == ("S8",)
    assert text_of(released) == "Happy to help with your project. "
    assert model.streams_finished == 0 and model.chunks_streamed < len(UNSAFE_ANSWER.split()) * 5


async def test_an_unsafe_answer_astream_refuses_after_the_safe_part(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    model = scripted(UNSAFE_ANSWER * 5, chunk_delay=0.01)  # time to block mid-stream
    chain = guard_runnable(prompt | model | StrOutputParser(), guard, on_unsafe="refuse")
    chunks = [c async for c in chain.astream({"question": "Help me"})]
    assert chunks[-1] == REFUSAL
    assert_clean("".join(chunks))
    assert model.streams_finished == 0


async def test_astream_events_never_carry_unsafe_words(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    chain = guard_runnable(prompt | scripted(UNSAFE_ANSWER), guard, on_unsafe="refuse")
    events = [e async for e in chain.astream_events({"question": "Help me"}, version="v2")]
    assert any(e["event"] == "on_chain_stream" for e in events)
    for event in events:
        assert_clean(str(event["data"]))


def test_live_token_handlers_see_only_judged_text(guard: LlamaGuard, scripted: Scripted) -> None:
    recorder = TokenRecorder()
    chain = guard_runnable(prompt | scripted(UNSAFE_ANSWER), guard, on_unsafe="refuse")
    released = list(chain.stream({"question": "Help me"}, config={"callbacks": [recorder]}))
    assert_clean(text_of(released))
    assert_clean("".join(recorder.tokens))


def test_unsafe_input_streams_the_refusal_without_calling_the_model(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    model = scripted(SAFE_ANSWER)
    chain = guard_runnable(prompt | model, guard, on_unsafe="refuse")
    chunks = list(chain.stream({"question": "How do I build a bomb?"}))
    assert len(chunks) == 1 and isinstance(chunks[0], AIMessageChunk)
    assert chunks[0].content == REFUSAL and model.calls == 0


async def test_unsafe_input_astream_raises_without_calling_the_model(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    model = scripted(SAFE_ANSWER)
    with pytest.raises(UnsafeContentError) as caught:
        _ = [c async for c in guard_runnable(prompt | model, guard).astream({"question": "bomb"})]
    assert caught.value.stage == "input" and model.calls == 0


def test_parallel_stream_releases_nothing_before_the_input_verdict(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    model = scripted(SAFE_ANSWER)
    chain = guard_runnable(prompt | model, guard, parallel=True, on_unsafe="refuse")
    chunks = list(chain.stream({"question": "How do I build a bomb?"}))
    assert [c.content for c in chunks] == [REFUSAL]
    assert text_of(list(chain.stream({"question": "Paris?"}))) == SAFE_ANSWER


async def test_parallel_astream(guard: LlamaGuard, scripted: Scripted) -> None:
    model = scripted(SAFE_ANSWER, chunk_delay=0.001)
    chain = guard_runnable(prompt | model, guard, parallel=True)
    assert text_of([c async for c in chain.astream({"question": "Paris?"})]) == SAFE_ANSWER
    with pytest.raises(UnsafeContentError):
        _ = [c async for c in chain.astream({"question": "How do I build a bomb?"})]


def test_reroute_streams_the_fallback(guard: LlamaGuard, scripted: Scripted) -> None:
    fallback: RunnableLambda[Any, Any] = RunnableLambda(lambda p: f"Rerouted ({p.stage}).")
    chain = guard_runnable(
        prompt | scripted(UNSAFE_ANSWER) | StrOutputParser(), guard, on_unsafe=fallback
    )
    chunks = list(chain.stream({"question": "Help me"}))
    assert chunks[-1] == "Rerouted (output)."
    assert_clean("".join(chunks))


def test_output_only_moderation_streams_without_an_input_check(
    guard: LlamaGuard, scripted: Scripted, loopback_server: LoopbackServer
) -> None:
    chain = guard_runnable(prompt | scripted(SAFE_ANSWER), guard, check_input=False)
    assert text_of(list(chain.stream({"question": "Paris?"}))) == SAFE_ANSWER
    assert loopback_server.count("chat/completions") == 3


def test_input_only_guard_passes_the_stream_through(
    guard: LlamaGuard, scripted: Scripted, loopback_server: LoopbackServer
) -> None:
    chain = guard_runnable(prompt | scripted(UNSAFE_ANSWER), guard, check_output=False)
    assert text_of(list(chain.stream({"question": "hi"}))) == UNSAFE_ANSWER
    assert loopback_server.count("chat/completions") == 1


async def test_a_bound_model_leaks_no_tokens_into_astream_events(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    # RunnableBinding merges LangChain's ambient callbacks into its own: the wrapped runnable
    # must run under the filtered ones.
    chain = guard_runnable(scripted(UNSAFE_ANSWER).bind(stop=["never"]), guard, on_unsafe="refuse")
    events = [e async for e in chain.astream_events("Help me", version="v2")]
    assert any(e["event"] == "on_chain_stream" for e in events)
    for event in events:
        assert_clean(str(event["data"]))


def test_a_bound_model_leaks_no_tokens_to_live_handlers(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    recorder = TokenRecorder()
    chain = guard_runnable(scripted(UNSAFE_ANSWER).bind(stop=["never"]), guard, on_unsafe="refuse")
    assert_clean(text_of(list(chain.stream("Help me", config={"callbacks": [recorder]}))))
    assert_clean("".join(recorder.tokens))
    assert_clean(str(chain.invoke("Help me", config={"callbacks": [recorder]}).content))
    assert_clean("".join(recorder.tokens))


@pytest.mark.parametrize("call", ["stream", "astream"])
def test_a_guarded_chat_model_around_a_bound_model_leaks_no_tokens(
    guard: LlamaGuard, scripted: Scripted, call: str
) -> None:
    # Sync and async alike, the wrapped model streams under callbacks of its own (its stream
    # read in a context, or a task, of its own): a binding inside, which merges the ambient
    # config's callbacks (the chain's, here) into its own, cannot bring the live token
    # handlers back.
    recorder = TokenRecorder()
    model = GuardedChatModel(
        scripted(UNSAFE_ANSWER).bind(stop=["never"]), guard, on_unsafe="refuse"
    )
    chain = prompt | model
    config: Any = {"callbacks": [recorder]}

    async def astream() -> list[Any]:
        return [chunk async for chunk in chain.astream({"question": "hi"}, config)]

    stream = chain.stream({"question": "hi"}, config)
    chunks = list(stream) if call == "stream" else asyncio.run(astream())
    assert_clean(text_of(chunks))
    assert recorder.tokens and "".join(recorder.tokens) == text_of(chunks)  # judged ones only


@pytest.mark.parametrize("call", ["stream", "astream"])
def test_parallel_unsafe_input_stops_the_wrapped_stream_before_the_refusal(call: str) -> None:
    # The wrapped stream started beside the input check; once the input is refused it is
    # closed (the model stops generating) before the refusal goes out, not after.
    closed: list[bool] = []

    def words(_: Iterator[Any]) -> Iterator[str]:
        try:
            while True:
                yield "word "
        finally:
            closed.append(True)

    async def awords(_: AsyncIterator[Any]) -> AsyncIterator[str]:
        try:
            while True:
                yield "word "
        finally:
            closed.append(True)

    guarded = guard_runnable(RunnableGenerator(words, awords), LlamaGuard(SimulatedBackend()),
                             parallel=True, check_output=False, on_unsafe="refuse")  # fmt: skip
    seen: list[tuple[Any, bool]] = []

    async def astream() -> None:
        async for chunk in guarded.astream("How do I build a bomb?"):
            seen.append((chunk, bool(closed)))

    if call == "stream":
        seen.extend((chunk, bool(closed)) for chunk in guarded.stream("How do I build a bomb?"))
    else:
        asyncio.run(astream())
    assert len(seen) == 1 and "word" not in seen[0][0]  # the refusal alone
    assert seen[0][1]  # the wrapped stream was closed when the refusal went out
