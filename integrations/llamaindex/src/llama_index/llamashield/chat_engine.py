"""``GuardedChatEngine``: Llama Guard around any LlamaIndex chat engine."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.chat_engine.types import (
    AGENT_CHAT_RESPONSE_TYPE,
    AgentChatResponse,
    BaseChatEngine,
    StreamingAgentChatResponse,
)
from llama_index.core.memory import BaseMemory
from llama_index.llamashield._common import (
    DEFAULT_REFUSAL,
    METADATA_KEY,
    check_guard,
    history_turns,
)
from llama_index.llamashield._on_unsafe import (
    OnUnsafe,
    acall_fallback,
    call_fallback,
    check_on_unsafe,
)
from llama_index.llamashield._stream import amoderate_tokens, moderate_tokens

from llamashield import LlamaGuard, UnsafeContentError, Verdict

__all__ = ["GuardedChatEngine"]


class GuardedChatEngine(BaseChatEngine):
    """A chat engine whose user turns and answers Llama Guard checks, in context.

    The user's message is judged after the chat history; an unsafe one never reaches the inner
    engine. The answer is judged as the Agent's turn. A blocked turn leaves the inner engine's
    memory as it was before the turn: the history never records an unsafe exchange as if it had
    been answered. Streams are moderated as they stream.

    Example::

        from llama_index.llamashield import GuardedChatEngine

        chat = GuardedChatEngine(index.as_chat_engine(), guard, on_unsafe="refuse")
        chat.chat("Hi!")
        chat.chat("How do I make a bomb?").response     # the refusal; memory has only "Hi!"

    Args:
        engine: the chat engine to guard.
        guard: the ``LlamaGuard`` that judges.
        check_input, check_output: what to judge.
        on_unsafe: ``"raise"``, ``"refuse"``, another chat engine to reroute to, or a callable
            ``(message, UnsafeContentError) -> str | AgentChatResponse`` (async under
            ``achat``). A stream that turns unsafe midway ends with the refusal (or raises).
        refusal: the text of a refusal.
    """

    def __init__(
        self,
        engine: BaseChatEngine,
        guard: LlamaGuard,
        *,
        check_input: bool = True,
        check_output: bool = True,
        on_unsafe: OnUnsafe = "raise",
        refusal: str = DEFAULT_REFUSAL,
    ) -> None:
        if not isinstance(engine, BaseChatEngine):
            raise TypeError(f"engine must be a BaseChatEngine, got {type(engine).__name__}")
        self._engine = engine
        self._guard = check_guard(guard)
        self._check_input = check_input
        self._check_output = check_output
        self._on_unsafe = check_on_unsafe(on_unsafe, (BaseChatEngine,))
        self._refusal = refusal

    @property
    def engine(self) -> BaseChatEngine:
        return self._engine

    @property
    def guard(self) -> LlamaGuard:
        return self._guard

    @property
    def chat_history(self) -> list[ChatMessage]:
        return self._engine.chat_history

    def reset(self) -> None:
        self._engine.reset()

    # -- chat / achat ---------------------------------------------------------------------

    def chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AGENT_CHAT_RESPONSE_TYPE:
        before = self._history(chat_history)
        context = [*history_turns(before), {"role": "user", "content": message}]
        verdicts: dict[str, Verdict] = {}
        if self._check_input:
            verdicts["input"] = verdict = self._guard.check(context)
            if not verdict.safe:
                return self._blocked(message, UnsafeContentError(verdict, "input"), verdicts)
        response = self._engine.chat(message, chat_history)
        if self._check_output:
            if isinstance(response, StreamingAgentChatResponse):
                raise TypeError("chat() of the inner engine streamed: use stream_chat()")
            verdicts["output"] = verdict = self._guard.check(_with_answer(context, response))
            if not verdict.safe:
                _restore(self._engine, before)
                return self._blocked(message, UnsafeContentError(verdict, "output"), verdicts)
        return _with_verdicts(response, verdicts)

    async def achat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AGENT_CHAT_RESPONSE_TYPE:
        before = await self._ahistory(chat_history)
        context = [*history_turns(before), {"role": "user", "content": message}]
        verdicts: dict[str, Verdict] = {}
        if self._check_input:
            verdicts["input"] = verdict = await self._guard.acheck(context)
            if not verdict.safe:
                error = UnsafeContentError(verdict, "input")
                return await self._ablocked(message, error, verdicts)
        response = await self._engine.achat(message, chat_history)
        if self._check_output:
            if isinstance(response, StreamingAgentChatResponse):
                raise TypeError("achat() of the inner engine streamed: use astream_chat()")
            verdicts["output"] = verdict = await self._guard.acheck(_with_answer(context, response))
            if not verdict.safe:
                await _arestore(self._engine, before)
                error = UnsafeContentError(verdict, "output")
                return await self._ablocked(message, error, verdicts)
        return _with_verdicts(response, verdicts)

    def _blocked(
        self, message: str, error: UnsafeContentError, verdicts: dict[str, Verdict]
    ) -> AGENT_CHAT_RESPONSE_TYPE:
        if self._on_unsafe == "raise":
            raise error
        if self._on_unsafe == "refuse":
            answer: Any = self._refusal
        elif isinstance(self._on_unsafe, BaseChatEngine):
            answer = self._on_unsafe.chat(message)
        else:
            answer = call_fallback(self._on_unsafe, message, error)
        return _with_verdicts(_as_chat_response(answer), verdicts)

    async def _ablocked(
        self, message: str, error: UnsafeContentError, verdicts: dict[str, Verdict]
    ) -> AGENT_CHAT_RESPONSE_TYPE:
        if self._on_unsafe == "raise":
            raise error
        if self._on_unsafe == "refuse":
            answer: Any = self._refusal
        elif isinstance(self._on_unsafe, BaseChatEngine):
            answer = await self._on_unsafe.achat(message)
        else:
            answer = await acall_fallback(self._on_unsafe, message, error)
        return _with_verdicts(_as_chat_response(answer), verdicts)

    # -- stream_chat / astream_chat -------------------------------------------------------

    def stream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        before = self._history(chat_history)
        context = [*history_turns(before), {"role": "user", "content": message}]
        if self._check_input:
            verdict = self._guard.check(context)
            if not verdict.safe:
                blocked = self._blocked(message, UnsafeContentError(verdict, "input"), {})
                return _as_stream(blocked)
        inner = self._engine.stream_chat(message, chat_history)
        if not self._check_output:
            return inner
        return _stream_response(inner, self._moderated(inner, context, before))

    def _moderated(
        self,
        inner: StreamingAgentChatResponse,
        context: list[dict[str, str]],
        before: list[ChatMessage],
    ) -> Iterator[str]:
        record: dict[str, Verdict] = {}
        source = inner.response_gen
        try:
            yield from moderate_tokens(
                source,
                self._guard,
                context,
                on_unsafe=self._stream_on_unsafe(),
                refusal=self._refusal,
                record=record,
            )
        finally:
            # Closing the inner stream waits for its memory writer; only then can a blocked
            # answer be taken back out of the history.
            source.close()
            if _blocked_in(record):
                _restore(self._engine, before)

    async def astream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        before = await self._ahistory(chat_history)
        context = [*history_turns(before), {"role": "user", "content": message}]
        if self._check_input:
            verdict = await self._guard.acheck(context)
            if not verdict.safe:
                error = UnsafeContentError(verdict, "input")
                return _as_stream(await self._ablocked(message, error, {}), asynchronous=True)
        inner = await self._engine.astream_chat(message, chat_history)
        if not self._check_output:
            return inner
        return _stream_response(inner, self._amoderated(inner, context, before))

    async def _amoderated(
        self,
        inner: StreamingAgentChatResponse,
        context: list[dict[str, str]],
        before: list[ChatMessage],
    ) -> AsyncIterator[str]:
        record: dict[str, Verdict] = {}
        source = inner.async_response_gen()
        try:
            async for token in amoderate_tokens(
                source,
                self._guard,
                context,
                on_unsafe=self._stream_on_unsafe(),
                refusal=self._refusal,
                record=record,
            ):
                yield token
        finally:
            await source.aclose()
            if _blocked_in(record):
                await _arestore(self._engine, before)

    def _stream_on_unsafe(self) -> str:
        return "raise" if self._on_unsafe == "raise" else "refuse"

    # -- history --------------------------------------------------------------------------

    def _history(self, chat_history: list[ChatMessage] | None) -> list[ChatMessage]:
        return list(chat_history) if chat_history is not None else list(self._engine.chat_history)

    async def _ahistory(self, chat_history: list[ChatMessage] | None) -> list[ChatMessage]:
        if chat_history is not None:
            return list(chat_history)
        memory = _memory_of(self._engine)
        if memory is not None:
            return list(await memory.aget_all())
        return list(self._engine.chat_history)


def _with_answer(context: list[dict[str, str]], response: AgentChatResponse) -> list[Any]:
    return [*context, {"role": "assistant", "content": response.response}]


def _blocked_in(record: dict[str, Verdict]) -> bool:
    verdict = record.get("output")
    # No verdict at all means the stream failed before one: treat the turn as not answered.
    return verdict is None or not verdict.safe


def _memory_of(engine: BaseChatEngine) -> BaseMemory | None:
    for name in ("_memory", "memory"):
        memory = getattr(engine, name, None)
        if isinstance(memory, BaseMemory):
            return memory
    return None


def _restore(engine: BaseChatEngine, history: list[ChatMessage]) -> None:
    memory = _memory_of(engine)
    if memory is not None:
        memory.set(history)


async def _arestore(engine: BaseChatEngine, history: list[ChatMessage]) -> None:
    memory = _memory_of(engine)
    if memory is not None:
        await memory.aset(history)


def _as_chat_response(answer: Any) -> AGENT_CHAT_RESPONSE_TYPE:
    if isinstance(answer, AgentChatResponse | StreamingAgentChatResponse):
        return answer
    return AgentChatResponse(response=str(answer))


def _with_verdicts(
    response: AGENT_CHAT_RESPONSE_TYPE, verdicts: dict[str, Verdict]
) -> AGENT_CHAT_RESPONSE_TYPE:
    if isinstance(response, AgentChatResponse):
        response.metadata = {**(response.metadata or {}), METADATA_KEY: dict(verdicts)}
    return response


def _chat_chunks(tokens: Iterator[str]) -> Generator[ChatResponse, None, None]:
    text = ""
    for token in tokens:
        text += token
        yield ChatResponse(message=ChatMessage(role="assistant", content=text), delta=token)


async def _achat_chunks(tokens: AsyncIterator[str]) -> AsyncGenerator[ChatResponse, None]:
    text = ""
    async for token in tokens:
        text += token
        yield ChatResponse(message=ChatMessage(role="assistant", content=text), delta=token)


def _stream_response(
    inner: StreamingAgentChatResponse, tokens: Iterator[str] | AsyncIterator[str]
) -> StreamingAgentChatResponse:
    # The inner response writes its own memory; this one only relays moderated text.
    if isinstance(tokens, Iterator):
        return StreamingAgentChatResponse(
            chat_stream=_chat_chunks(tokens),
            sources=inner.sources,
            source_nodes=inner.source_nodes,
            is_writing_to_memory=False,
        )
    return StreamingAgentChatResponse(
        achat_stream=_achat_chunks(tokens),
        sources=inner.sources,
        source_nodes=inner.source_nodes,
        is_writing_to_memory=False,
    )


def _as_stream(
    response: AGENT_CHAT_RESPONSE_TYPE, *, asynchronous: bool = False
) -> StreamingAgentChatResponse:
    if isinstance(response, StreamingAgentChatResponse):
        return response
    text = response.response

    async def once() -> AsyncIterator[str]:
        yield text

    if asynchronous:
        return StreamingAgentChatResponse(
            achat_stream=_achat_chunks(once()), is_writing_to_memory=False
        )
    return StreamingAgentChatResponse(
        chat_stream=_chat_chunks(iter([text])), is_writing_to_memory=False
    )
