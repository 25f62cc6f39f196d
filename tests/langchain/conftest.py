"""Fixtures for the LangChain tests: a guard over real HTTP and a scripted, counting chat model."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from llamashield import LlamaGuard
from llamashield.testing import LoopbackServer


class ScriptedChatModel(BaseChatModel):
    """Says ``answer``, streamed word by word; counts calls and how far each stream got."""

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


@pytest.fixture
def guard(loopback_server: LoopbackServer) -> LlamaGuard:
    """A guard on the loopback server: the real Together SDK over 127.0.0.1."""
    return loopback_server.guard()


@pytest.fixture
def scripted() -> Callable[..., ScriptedChatModel]:
    """Build a ``ScriptedChatModel``: ``scripted("The answer.", chunk_delay=0.01)``."""

    def build(answer: str = "Hello there.", **kwargs: Any) -> ScriptedChatModel:
        return ScriptedChatModel(answer=answer, **kwargs)

    return build
