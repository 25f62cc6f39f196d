"""``GuardedChatEngine``: Llama Guard around any LlamaIndex chat engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.chat_engine.types import (
    AGENT_CHAT_RESPONSE_TYPE,
    AgentChatResponse,
    BaseChatEngine,
    StreamingAgentChatResponse,
)
from llama_index.llamashield._compat import memory_of
from llama_index.llamashield._inputs import messages_conversation
from llama_index.llamashield._memory import memory_read
from llama_index.llamashield._on_unsafe import GuardedEngine, OnUnsafe
from llama_index.llamashield._stream import (
    Driver,
    Records,
    moderated_answer,
    once,
    tokens_of,
)
from llama_index.llamashield._stream_turns import GuardedStreamingResponse, StreamTurn

from llamashield import LlamaGuard, Verdict
from llamashield.integration import (
    METADATA_KEY,
    Call,
    JudgeConversation,
    Plan,
    StreamModeration,
    arun_plan,
    astream_plan,
    run_plan,
    stream_plan,
    unsafe_outcome,
    verdict_metadata,
)
from llamashield.streaming import WindowSpec

__all__ = ["GuardedChatEngine"]


class GuardedChatEngine(GuardedEngine[BaseChatEngine], BaseChatEngine):
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
        self._wrap(engine, BaseChatEngine, guard, check_input=check_input,
                   check_output=check_output, on_unsafe=on_unsafe, refusal=refusal,
                   shadow=shadow)  # fmt: skip
        self._window = window
        self._turn: StreamTurn | None = None  # the last stream, until settled

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

    # -- one plan per method kind, driven sync and async ---------------------------------

    def chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AGENT_CHAT_RESPONSE_TYPE:
        return run_plan(self._chat_plan(message, chat_history), self._shield.guard)

    async def achat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AGENT_CHAT_RESPONSE_TYPE:
        return await arun_plan(self._chat_plan(message, chat_history), self._shield.guard)

    def stream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        turn = run_plan(self._stream_plan(message, chat_history), self._shield.guard)
        return self._relayed(turn, stream_plan)

    async def astream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        turn = await arun_plan(self._stream_plan(message, chat_history), self._shield.guard)
        return self._relayed(turn, astream_plan)

    def _chat_plan(
        self, message: str, chat_history: list[ChatMessage] | None
    ) -> Plan[AGENT_CHAT_RESPONSE_TYPE]:
        turn = yield from self._opened(message, chat_history)
        if turn.refused is not None:
            return turn.refused
        response = yield Call(self._engine.chat, self._engine.achat, (message, chat_history))
        if self._shield.check_output:
            if isinstance(response, StreamingAgentChatResponse):
                raise TypeError("chat() of the inner engine streamed: use stream_chat()")
            answered = [*turn.context, {"role": "assistant", "content": response.response}]
            verdict = yield JudgeConversation(answered, trusted=range(len(turn.context)))
            turn.records["output"] = verdict_metadata(verdict, stage="output")
            if not verdict.safe:
                yield from self._restore(turn.before)
                return (yield from self._unsafe(turn, verdict, "output", response.response))
        return _with_records(response, turn.records)

    def _stream_plan(self, message: str, chat_history: list[ChatMessage] | None) -> Plan[_Turn]:
        """The input check and the inner stream (its tokens are judged as they are read)."""
        turn = yield from self._opened(message, chat_history)
        if turn.refused is None:
            engine = self._engine
            turn.inner = yield Call(
                engine.stream_chat, engine.astream_chat, (message, chat_history)
            )
        return turn

    def _opened(self, message: str, chat_history: list[ChatMessage] | None) -> Plan[_Turn]:
        """Settle the last stream, read the history, and judge the message after it (refused:
        the inner engine is never called)."""
        last, self._turn = self._turn, None
        if last is not None:
            yield Call(last.settle, last.asettle)  # async code waits for its memory writer
        prior, read = yield from self._history(message, chat_history)
        # A given history replaces the memory: a blocked answer leaves that history.
        before = list(chat_history) if chat_history else prior
        turn = _Turn(
            message, [*messages_conversation(read), {"role": "user", "content": message}], before
        )
        if self._shield.check_input:
            verdict = yield JudgeConversation(turn.context)
            turn.records["input"] = verdict_metadata(verdict, stage="input")
            if not verdict.safe:
                if chat_history:  # reading it set the memory to the refused history
                    yield from self._restore(prior)
                turn.refused = yield from self._unsafe(turn, verdict, "input", message)
        return turn

    def _unsafe(
        self, turn: _Turn, verdict: Verdict, stage: str, content: Any
    ) -> Plan[AGENT_CHAT_RESPONSE_TYPE]:
        """The core's unsafe outcome: raise, the refusal, or the reroute target's answer to the
        same message."""
        on_unsafe = self._shield.handlers(
            lambda blocked: blocked.refusal,
            lambda engine: Call(engine.chat, engine.achat, (turn.message,)),
        )
        blocked = self._shield.blocked(verdict, stage, content)
        answer = yield from unsafe_outcome(self._shield.action, blocked, on_unsafe)
        return _with_records(_as_chat_response(answer), turn.records)

    def _relayed(self, turn: _Turn, drive: Driver) -> StreamingAgentChatResponse:
        """The stream the consumer reads (``drive``: the method's flavour): the refusal, the
        inner stream itself when answers are not judged, or its judged tokens, in a turn taken
        back out of memory unless judged to the end (see ``_stream_turns``)."""
        if turn.refused is not None:
            if isinstance(turn.refused, StreamingAgentChatResponse):
                return turn.refused
            refusal = _Chunks()(turn.refused.response)
            return GuardedStreamingResponse.relaying(drive(once(refusal), self._shield.guard))
        inner: StreamingAgentChatResponse = turn.inner
        if not self._shield.check_output:
            return inner
        self._turn = stream = StreamTurn(self._engine, turn.before, turn.records, inner)
        moderation = StreamModeration(context=turn.context, window=self._window)
        relayed: list[GuardedStreamingResponse] = []

        def released() -> None:  # judged safe to its end: its sources go out with it
            relayed[0].sources.extend(inner.sources)
            relayed[0].source_nodes.extend(inner.source_nodes)

        answer = moderated_answer(
            tokens_of(inner), moderation, self._shield, turn.records, _Chunks(),
            stopped=lambda: stream.settled,  # a later turn took this one back out: it is over
            released=released,
        )  # fmt: skip
        tokens = drive(answer, self._shield.guard)
        relayed.append(GuardedStreamingResponse.relaying(tokens, None, stream))
        return relayed[0]

    # -- history --------------------------------------------------------------------------

    def _history(
        self, message: str, chat_history: list[ChatMessage] | None
    ) -> Plan[tuple[list[ChatMessage], list[ChatMessage]]]:
        """The history as it stands before the turn, and what the inner engine's LLM will
        read: its memory as read with the new message (``memory_read``:
        a ``Memory``'s blocks included, over ``chat_history`` when one is given). An empty
        ``chat_history`` means the memory, as LlamaIndex's engines do."""
        memory = memory_of(self._engine)
        if memory is not None:
            return (yield from memory_read(memory, chat_history, message))
        history = list(chat_history) if chat_history else list(self._engine.chat_history)
        return history, history

    def _restore(self, before: list[ChatMessage]) -> Plan[None]:
        """Take a blocked turn back out of the inner engine's memory."""
        memory = memory_of(self._engine)
        if memory is not None:
            yield Call(memory.set, memory.aset, (before,))


@dataclass
class _Turn:
    """One chat turn: the message in its context, the history to restore, the verdicts'
    records, and what answers it: the refusal (the message was blocked) or the inner stream."""

    message: str
    context: list[dict[str, Any]]
    before: list[ChatMessage]
    records: Records = field(default_factory=dict)
    refused: AGENT_CHAT_RESPONSE_TYPE | None = None
    inner: Any = None


class _Chunks:
    """Tokens as a chat stream's ``ChatResponse`` chunks: the text so far, and the delta."""

    def __init__(self) -> None:
        self.text = ""

    def __call__(self, token: str) -> ChatResponse:
        self.text += token
        return ChatResponse(message=ChatMessage(role="assistant", content=self.text), delta=token)


def _as_chat_response(answer: Any) -> AGENT_CHAT_RESPONSE_TYPE:
    if isinstance(answer, AgentChatResponse | StreamingAgentChatResponse):
        return answer
    return AgentChatResponse(response=str(answer))


def _with_records(response: AGENT_CHAT_RESPONSE_TYPE, records: Records) -> AGENT_CHAT_RESPONSE_TYPE:
    if isinstance(response, AgentChatResponse):
        response.metadata = {**(response.metadata or {}), METADATA_KEY: dict(records)}
    return response
