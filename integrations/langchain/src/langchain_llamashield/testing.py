"""Offline testing for guarded LangChain pipelines: a scripted, counting fake chat model.

Like ``llamashield.testing`` (a loopback guard server), for the model side of a chain or an
agent: the tests and benchmarks of this package use it, and so can yours.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr

__all__ = ["ScriptedChatModel"]


class ScriptedChatModel(BaseChatModel):
    """A chat model that says ``answer`` (streamed word by word) and counts what it was asked.

    For testing and measuring guarded pipelines offline: no model, no network. ``delay`` is
    slept per call, ``chunk_delay`` per streamed word; ``calls``, ``seen`` (the messages of each
    call), ``stops``, ``finished``, ``cancelled``, ``chunks_streamed`` and ``streams_finished``
    say how far each call got (whether a guard stopped the model, or cut its stream short).

    ``responses`` scripts whole messages instead (tool calls, reasoning, content blocks): call
    *n* answers ``responses[n]``, the last one repeating. It binds tools (``bind_tools``), so
    ``create_agent`` runs on it; what it answers stays as scripted. A streamed message comes as
    its text word by word, then one chunk with the rest (tool calls, other fields), or as one
    chunk when its content is a list of blocks: the chunks add up to the message.

    Example::

        from langchain_llamashield import guard_runnable
        from langchain_llamashield.testing import ScriptedChatModel
        from llamashield.testing import LoopbackServer

        model = ScriptedChatModel(answer="Hello there.")
        with LoopbackServer() as server:
            guarded = guard_runnable(model, server.guard(), on_unsafe="refuse")
            guarded.invoke("How do I build a bomb?")   # a refusal; the model never ran
        model.calls                                    # 0
    """

    answer: str = "Hello there."
    responses: list[AIMessage] = Field(default_factory=list)
    chunk_delay: float = 0.0
    delay: float = 0.0
    calls: int = 0
    chunks_streamed: int = 0
    streams_finished: int = 0
    finished: int = 0
    cancelled: int = 0
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    stops: list[list[str] | None] = Field(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind ``tools`` as a provider receives them (OpenAI's format); answers stay scripted."""
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _start(self, messages: list[BaseMessage], stop: list[str] | None) -> AIMessage:
        """Count the call (threads may share the model) and pick its scripted message."""
        with self._lock:
            index = self.calls
            self.calls += 1
            self.seen.append(list(messages))
            self.stops.append(stop)
        if not self.responses:
            return AIMessage(content=self.answer)
        # A copy: LangChain writes the run's id into the message it is given.
        return self.responses[min(index, len(self.responses) - 1)].model_copy(update={"id": None})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self._start(messages, stop)
        time.sleep(self.delay)
        self.finished += 1
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self._start(messages, stop)
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in _chunks(self._start(messages, stop)):
            time.sleep(self.chunk_delay)
            self.chunks_streamed += 1
            yield ChatGenerationChunk(message=chunk)
        self.streams_finished += 1

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in _chunks(self._start(messages, stop)):
            await asyncio.sleep(self.chunk_delay)
            self.chunks_streamed += 1
            yield ChatGenerationChunk(message=chunk)
        self.streams_finished += 1


def _chunks(message: AIMessage) -> list[AIMessageChunk]:
    """What a provider streams for ``message``: its text word by word, then one chunk with the
    rest (tool calls, additional_kwargs); a list of content blocks comes whole in that chunk."""
    text = message.content if isinstance(message.content, str) else None
    words = text.split(" ") if text else []
    chunks = [AIMessageChunk(content=w + " ") for w in words[:-1]]
    chunks += [AIMessageChunk(content=w) for w in words[-1:]]
    calls = [
        tool_call_chunk(name=c["name"], args=json.dumps(c["args"]), id=c["id"], index=i)
        for i, c in enumerate(message.tool_calls)
    ]
    # Arguments that do not parse: the aggregated message keeps them as invalid tool calls.
    invalid = [
        tool_call_chunk(name=c["name"], args=c["args"], id=c["id"], index=len(calls) + i)
        for i, c in enumerate(message.invalid_tool_calls)
    ]
    if text is None or message.additional_kwargs or calls or invalid or not chunks:
        rest = AIMessageChunk(
            content="" if text is not None else message.content,
            additional_kwargs=message.additional_kwargs,
            tool_call_chunks=[*calls, *invalid],
        )
        chunks.append(rest)
    return chunks
