"""Offline testing for guarded LangChain pipelines: a scripted, counting fake chat model.

Like ``llamashield.testing`` (a loopback guard server), for the model side of a chain: the tests
and benchmarks of this package use it, and so can yours.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

__all__ = ["ScriptedChatModel"]


class ScriptedChatModel(BaseChatModel):
    """A chat model that says ``answer`` (streamed word by word) and counts what it was asked.

    For testing and measuring guarded pipelines offline: no model, no network. ``delay`` is
    slept per call, ``chunk_delay`` per streamed word; ``calls``, ``seen`` (the messages of each
    call), ``stops``, ``finished``, ``cancelled``, ``chunks_streamed`` and ``streams_finished``
    say how far each call got (whether a guard stopped the model, or cut its stream short).

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
    chunk_delay: float = 0.0
    delay: float = 0.0
    calls: int = 0
    chunks_streamed: int = 0
    streams_finished: int = 0
    finished: int = 0
    cancelled: int = 0
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    stops: list[list[str] | None] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def _words(self) -> list[str]:
        words = self.answer.split(" ")
        return [w + " " for w in words[:-1]] + [words[-1]]

    def _start(self, messages: list[BaseMessage], stop: list[str] | None) -> None:
        self.calls += 1
        self.seen.append(list(messages))
        self.stops.append(stop)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._start(messages, stop)
        time.sleep(self.delay)
        self.finished += 1
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.answer))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._start(messages, stop)
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.answer))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        self._start(messages, stop)
        for word in self._words():
            time.sleep(self.chunk_delay)
            self.chunks_streamed += 1
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))
        self.streams_finished += 1

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        self._start(messages, stop)
        for word in self._words():
            await asyncio.sleep(self.chunk_delay)
            self.chunks_streamed += 1
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))
        self.streams_finished += 1
