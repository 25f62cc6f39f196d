"""A streamed answer the consumer stops reading is never remembered unjudged (issue 20, item 4).

The inner chat engine writes memory from a writer of its own that reads the model's whole stream
whatever the consumer does. Stopping early (a break, ``close``/``aclose``, never reading at all)
must leave no unjudged text in memory, and the next turn's model must not read any.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.chat_engine import CondensePlusContextChatEngine, SimpleChatEngine
from llama_index.core.chat_engine.types import BaseChatEngine
from llama_index.core.llms import (
    CompletionResponse,
    CompletionResponseGen,
    CustomLLM,
    LLMMetadata,
)
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.llamashield import GuardedChatEngine
from pydantic import Field

from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend
from tests.llamaindex.li_helpers import build_index

# Every word is its own token and appears nowhere else: any of them in memory, or in what the
# next turn's model reads, is a piece of the first answer.
ANSWER = (
    "Quokkas snooze zestfully. Wombats excavate burrows. "
    "Platypuses deposit eggs. Echidnas devour termites."
)
ANSWER_WORDS = [w.strip(".") for w in ANSWER.split()]
FIRST, SECOND = "Tell me about animals.", "And birds?"


class RecordingLLM(CustomLLM):
    """Streams ``ANSWER`` word by word, and keeps every prompt it was given."""

    prompts: list[str] = Field(default_factory=list)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata()

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.prompts.append(prompt)
        return CompletionResponse(text=ANSWER)

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        self.prompts.append(prompt)

        def gen() -> CompletionResponseGen:
            text = ""
            for i, word in enumerate(ANSWER.split(" ")):
                delta = word if i == 0 else " " + word
                text += delta
                yield CompletionResponse(text=text, delta=delta)

        return gen()


def _engine(kind: str, llm: RecordingLLM) -> BaseChatEngine:
    memory = ChatMemoryBuffer.from_defaults(token_limit=100_000)
    if kind == "simple":
        return SimpleChatEngine.from_defaults(llm=llm, memory=memory)
    retriever = build_index(["Birds have feathers."]).as_retriever(similarity_top_k=1)
    return CondensePlusContextChatEngine.from_defaults(retriever, llm=llm, memory=memory)


def _memory_text(engine: BaseChatEngine) -> str:
    return " ".join(str(m.content) for m in engine._memory.get_all())  # type: ignore[attr-defined]


def _leaked(text: str) -> list[str]:
    """Words of the first answer in ``text``. Its unreleased part was never judged; the
    stopped turn is taken back whole, so no word of it at all may stay."""
    return [w for w in ANSWER_WORDS if re.search(rf"\b{w}\b", text)]


def _next_turn_prompt(llm: RecordingLLM) -> str:
    return llm.prompts[-1]


stops = st.one_of(st.none(), st.integers(0, len(ANSWER_WORDS) + 1))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["simple", "condense"]),
    stop=stops,
    how=st.sampled_from(["break", "close", "keep"]),
)
def test_sync_stream_stopped_early_leaves_no_unjudged_text(
    kind: str, stop: int | None, how: str
) -> None:
    llm = RecordingLLM()
    engine = _engine(kind, llm)
    guarded = GuardedChatEngine(engine, LlamaGuard(SimulatedBackend()), window=12)
    response = guarded.stream_chat(FIRST)
    released: list[str] = []
    gen = response.response_gen
    if stop is None:
        released = list(gen)  # read to the end: judged whole, remembered
    else:
        for token in gen:
            if len(released) == stop:
                break
            released.append(token)
        else:
            stop = None  # there were no more tokens than that: it was read to the end
        if how == "close":
            gen.close()
        elif how == "break":
            del gen  # what a for loop over response.response_gen does when it breaks
    if stop is None:
        assert "".join(released).strip() == ANSWER
        assert ANSWER in _memory_text(engine)
    elif how != "keep" and released:
        # Closed (or dropped) after reading: the memory is settled at once.
        assert _leaked(_memory_text(engine)) == []
    guarded.chat(SECOND)
    prompt = _next_turn_prompt(llm)
    if stop is None:
        assert ANSWER in prompt
    else:
        assert _leaked(prompt) == []
        history = [m.content for m in engine._memory.get_all()]  # type: ignore[attr-defined]
        assert history == [SECOND, ANSWER]  # the stopped turn is gone; the new one is there


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["simple", "condense"]),
    stop=stops,
    how=st.sampled_from(["break", "aclose", "keep"]),
    next_turn=st.sampled_from(["achat", "astream_chat"]),
)
def test_async_stream_stopped_early_leaves_no_unjudged_text(
    kind: str, stop: int | None, how: str, next_turn: str
) -> None:
    llm = RecordingLLM()
    engine = _engine(kind, llm)
    guarded = GuardedChatEngine(engine, LlamaGuard(SimulatedBackend()), window=12)

    async def scenario() -> tuple[list[str], bool]:
        response = await guarded.astream_chat(FIRST)
        released: list[str] = []
        gen = response.async_response_gen()
        if stop is None:
            released = [token async for token in gen]
            ended = True
        else:
            ended = False
            async for token in gen:
                if len(released) == stop:
                    break
                released.append(token)
            else:
                ended = True  # there were no more tokens than that: it was read to the end
            if how == "aclose":
                await gen.aclose()
                if not ended:  # closed after reading: the memory is settled at once
                    assert _leaked(_memory_text(engine)) == []
        if next_turn == "achat":
            await guarded.achat(SECOND)
        else:
            second = await guarded.astream_chat(SECOND)
            assert "".join([t async for t in second.async_response_gen()]).strip() == ANSWER
        return released, ended

    released, ended = asyncio.run(scenario())
    prompt = _next_turn_prompt(llm)
    if ended:
        assert "".join(released).strip() == ANSWER
        assert ANSWER in prompt
    else:
        assert _leaked(prompt) == []
        history = [m.content for m in engine._memory.get_all()]  # type: ignore[attr-defined]
        assert history == [SECOND, ANSWER]


def test_the_history_read_between_turns_has_no_unjudged_text() -> None:
    llm = RecordingLLM()
    engine = _engine("simple", llm)
    guarded = GuardedChatEngine(engine, LlamaGuard(SimulatedBackend()), window=12)
    response = guarded.stream_chat(FIRST)
    gen = response.response_gen
    next(gen)  # one token read, the stream kept open
    history: list[ChatMessage] = guarded.chat_history
    assert history == []
    assert _memory_text(engine) == ""
