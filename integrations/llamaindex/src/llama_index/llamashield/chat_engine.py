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
from llama_index.llamashield._compat import memory_of
from llama_index.llamashield._judging import (
    METADATA_KEY,
    check_guard,
    history_turns,
)
from llama_index.llamashield._on_unsafe import OnUnsafe, acall_reroute, call_reroute, parse_action
from llama_index.llamashield._stream import TokenModeration, amoderate_tokens, moderate_tokens
from llama_index.llamashield._stream_turns import GuardedStreamingResponse, StreamTurn

from llamashield import LlamaGuard, UnsafeContentError, Verdict
from llamashield.integration import (
    Blocked,
    Call,
    JudgeConversation,
    Plan,
    arun_plan,
    format_refusal,
    run_plan,
    verdict_metadata,
)
from llamashield.streaming import WindowSpec

Records = dict[str, Any]  # stage -> the verdict's record (llamashield.verdict_metadata)

__all__ = ["GuardedChatEngine"]


class GuardedChatEngine(BaseChatEngine):
    """A chat engine whose user turns and answers Llama Guard checks, in context.

    The user's message is judged after the chat history, and so is every message of that
    history not judged before (``chat_history=`` passed by a client, a memory filled
    elsewhere): each as the last turn of its own prefix, remembered by the guard so that a
    growing chat costs one check per new message. An unsafe one never reaches the inner
    engine. The answer is judged as the Agent's turn. A blocked turn leaves the inner engine's
    memory as it was before the turn: the history never records an unsafe exchange as if it had
    been answered. Streams are moderated as they stream; a stream the consumer stops reading
    (or never reads) is taken back out of memory too, once closed or at the latest when this
    engine is used again: only an answer judged to its end is remembered.

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
            receiving a ``Blocked`` (verdict, stage, the message or answer, the refusal) and
            returning ``str | AgentChatResponse`` (async under ``achat``). A stream that turns
            unsafe midway ends with the refusal (or raises).
        refusal: the refusal template (``{categories}``, ``{codes}``, ``{stage}``).
        window: how streamed answers are judged: ``"sentence"`` or a number of characters.

    ``response.metadata["llamashield"]`` holds JSON-ready records of the verdicts
    (``{"input": {...}, "output": {...}}``, each ``llamashield.verdict_metadata``).
    """

    def __init__(
        self,
        engine: BaseChatEngine,
        guard: LlamaGuard,
        *,
        check_input: bool = True,
        check_output: bool = True,
        on_unsafe: OnUnsafe = "raise",
        refusal: str | None = None,
        window: WindowSpec = "sentence",
        shadow: bool | None = None,
    ) -> None:
        if not isinstance(engine, BaseChatEngine):
            raise TypeError(f"engine must be a BaseChatEngine, got {type(engine).__name__}")
        self._engine = engine
        self._guard = check_guard(guard, shadow)
        self._check_input = check_input
        self._check_output = check_output
        self._action = parse_action(on_unsafe, refusal, (BaseChatEngine,))
        self._refusal = self._action.refusal
        self._window = window
        self._turn: StreamTurn | None = None  # the last stream, until settled

    @property
    def engine(self) -> BaseChatEngine:
        return self._engine

    @property
    def guard(self) -> LlamaGuard:
        return self._guard

    @property
    def chat_history(self) -> list[ChatMessage]:
        self._settle()
        return self._engine.chat_history

    def reset(self) -> None:
        self._settle()
        self._engine.reset()

    def _settle(self) -> None:
        """Settle the last stream before the memory is read again (see ``_stream_turns``)."""
        if self._turn is not None:
            self._turn.settle()
            self._turn = None

    async def _asettle(self) -> None:
        if self._turn is not None:
            await self._turn.asettle()
            self._turn = None

    # -- chat / achat: one plan, driven sync and async -----------------------------------

    def chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AGENT_CHAT_RESPONSE_TYPE:
        self._settle()
        return run_plan(self._chat_plan(message, chat_history), self._guard)

    async def achat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AGENT_CHAT_RESPONSE_TYPE:
        await self._asettle()
        return await arun_plan(self._chat_plan(message, chat_history), self._guard)

    def _chat_plan(
        self, message: str, chat_history: list[ChatMessage] | None
    ) -> Plan[AGENT_CHAT_RESPONSE_TYPE]:
        before, read = yield Call(self._history, self._ahistory, (chat_history,))
        context = [*history_turns(read), {"role": "user", "content": message}]
        records: Records = {}
        if self._check_input:
            verdict = yield JudgeConversation(context)
            records["input"] = verdict_metadata(verdict, stage="input")
            if not verdict.safe:
                return (yield from self._blocked(message, verdict, "input", records))
        response = yield Call(self._engine.chat, self._engine.achat, (message, chat_history))
        if self._check_output:
            if isinstance(response, StreamingAgentChatResponse):
                raise TypeError("chat() of the inner engine streamed: use stream_chat()")
            answered = _with_answer(context, response)
            verdict = yield JudgeConversation(answered, trusted=range(len(context)))
            records["output"] = verdict_metadata(verdict, stage="output")
            if not verdict.safe:
                yield Call(_restore, _arestore, (self._engine, before))
                answer = response.response
                return (yield from self._blocked(message, verdict, "output", records, answer))
        return _with_records(response, records)

    def _blocked(
        self, message: str, verdict: Verdict, stage: str, records: Records, answer: Any = None
    ) -> Plan[AGENT_CHAT_RESPONSE_TYPE]:
        mode, target = self._action.mode, self._action.target
        if mode == "raise":
            raise UnsafeContentError(verdict, stage)
        refusal = format_refusal(self._refusal, verdict, stage=stage)
        if mode == "refuse":
            result: Any = refusal
        elif isinstance(target, BaseChatEngine):
            result = yield Call(target.chat, target.achat, (message,))
        else:
            content = message if answer is None else answer
            blocked = Blocked(verdict, UnsafeContentError(verdict, stage).stage, content, refusal)
            result = yield Call(call_reroute, acall_reroute, (target, blocked))
        return _with_records(_as_chat_response(result), records)

    # -- stream_chat / astream_chat -------------------------------------------------------

    def _stream_plan(
        self, message: str, chat_history: list[ChatMessage] | None
    ) -> Plan[tuple[Any, list[dict[str, Any]], list[ChatMessage], bool]]:
        """The input check and the inner stream: (response, context, history, blocked)."""
        before, read = yield Call(self._history, self._ahistory, (chat_history,))
        context = [*history_turns(read), {"role": "user", "content": message}]
        if self._check_input:
            verdict = yield JudgeConversation(context)
            if not verdict.safe:
                refused = yield from self._blocked(message, verdict, "input", {})
                return refused, context, before, True
        call = Call(self._engine.stream_chat, self._engine.astream_chat, (message, chat_history))
        inner = yield call
        return inner, context, before, False

    def stream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        self._settle()
        inner, context, before, blocked = run_plan(
            self._stream_plan(message, chat_history), self._guard
        )
        if blocked:
            return _as_stream(inner)
        if not self._check_output:
            return inner  # type: ignore[no-any-return]
        how = self._moderation(context)
        self._turn = turn = StreamTurn(self._engine, before, how.record, inner)
        return _stream_response(inner, self._moderated(inner, how, turn))

    async def astream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        await self._asettle()
        inner, context, before, blocked = await arun_plan(
            self._stream_plan(message, chat_history), self._guard
        )
        if blocked:
            return _as_stream(inner, asynchronous=True)
        if not self._check_output:
            return inner  # type: ignore[no-any-return]
        how = self._moderation(context)
        self._turn = turn = StreamTurn(self._engine, before, how.record, inner)
        return _stream_response(inner, self._amoderated(inner, how, turn))

    @staticmethod
    def _moderated(
        inner: StreamingAgentChatResponse, how: TokenModeration, turn: StreamTurn
    ) -> Iterator[str]:
        tokens = moderate_tokens(inner.response_gen, how)
        try:
            for token in tokens:
                if turn.settled:
                    return  # a later turn took this one back out: it is over
                yield token
        finally:
            # Closing the moderated stream closes the inner one, which waits for its memory
            # writer; only then can an answer not judged to the end be taken back out.
            tokens.close()
            turn.settle()

    @staticmethod
    async def _amoderated(
        inner: StreamingAgentChatResponse, how: TokenModeration, turn: StreamTurn
    ) -> AsyncIterator[str]:
        tokens = amoderate_tokens(inner.async_response_gen(), how)
        try:
            async for token in tokens:
                if turn.settled:
                    return  # a later turn took this one back out: it is over
                yield token
        finally:
            await turn.asettle()
            await tokens.aclose()

    def _moderation(self, context: list[dict[str, Any]]) -> TokenModeration:
        # Once text has streamed, rerouting cannot take it back: a stream that turns unsafe
        # raises under "raise" and ends with the refusal otherwise.
        on_unsafe = "raise" if self._action.mode == "raise" else "refuse"
        return TokenModeration(self._guard, context, on_unsafe, self._refusal, {}, self._window)

    # -- history --------------------------------------------------------------------------

    def _history(
        self, chat_history: list[ChatMessage] | None
    ) -> tuple[list[ChatMessage], list[ChatMessage]]:
        """The history as it stands (restored when a turn is blocked), and what the inner
        engine's LLM will read of it: ``memory.get()``, which also carries a ``Memory``'s
        blocks (facts and messages kept elsewhere). An empty ``chat_history`` reads the memory,
        as LlamaIndex's engines do."""
        if chat_history:
            return list(chat_history), list(chat_history)
        memory = memory_of(self._engine)
        if memory is None:
            return list(self._engine.chat_history), list(self._engine.chat_history)
        return list(memory.get_all()), list(memory.get())

    async def _ahistory(
        self, chat_history: list[ChatMessage] | None
    ) -> tuple[list[ChatMessage], list[ChatMessage]]:
        """Async ``_history``."""
        if chat_history:
            return list(chat_history), list(chat_history)
        memory = memory_of(self._engine)
        if memory is None:
            return list(self._engine.chat_history), list(self._engine.chat_history)
        return list(await memory.aget_all()), list(await memory.aget())


def _with_answer(context: list[dict[str, str]], response: AgentChatResponse) -> list[Any]:
    return [*context, {"role": "assistant", "content": response.response}]


def _restore(engine: BaseChatEngine, history: list[ChatMessage]) -> None:
    memory = memory_of(engine)
    if memory is not None:
        memory.set(history)


async def _arestore(engine: BaseChatEngine, history: list[ChatMessage]) -> None:
    memory = memory_of(engine)
    if memory is not None:
        await memory.aset(history)


def _as_chat_response(answer: Any) -> AGENT_CHAT_RESPONSE_TYPE:
    if isinstance(answer, AgentChatResponse | StreamingAgentChatResponse):
        return answer
    return AgentChatResponse(response=str(answer))


def _with_records(response: AGENT_CHAT_RESPONSE_TYPE, records: Records) -> AGENT_CHAT_RESPONSE_TYPE:
    if isinstance(response, AgentChatResponse):
        response.metadata = {**(response.metadata or {}), METADATA_KEY: dict(records)}
    return response


def _chat_chunks(tokens: Iterator[str]) -> Generator[ChatResponse, None, None]:
    text = ""
    try:
        for token in tokens:
            text += token
            yield ChatResponse(message=ChatMessage(role="assistant", content=text), delta=token)
    finally:
        close = getattr(tokens, "close", None)
        if close is not None:
            close()  # a consumer that stopped reading stops the moderated stream now


async def _achat_chunks(tokens: AsyncIterator[str]) -> AsyncGenerator[ChatResponse, None]:
    text = ""
    try:
        async for token in tokens:
            text += token
            yield ChatResponse(message=ChatMessage(role="assistant", content=text), delta=token)
    finally:
        aclose = getattr(tokens, "aclose", None)
        if aclose is not None:
            await aclose()  # not left to the garbage collector: it would close it later


def _stream_response(
    inner: StreamingAgentChatResponse, tokens: Iterator[str] | AsyncIterator[str]
) -> StreamingAgentChatResponse:
    # The inner response writes its own memory; this one only relays moderated text.
    if isinstance(tokens, Iterator):
        return GuardedStreamingResponse(
            chat_stream=_chat_chunks(tokens),
            sources=inner.sources,
            source_nodes=inner.source_nodes,
            is_writing_to_memory=False,
        )
    return GuardedStreamingResponse(
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
