"""Callback handlers that judge a run's traffic and abort it, for code that only takes callbacks.

Callbacks see what happens but cannot change it: they can abort a run (by raising, which
LangChain allows only with ``raise_error=True``), not replace a message. Prefer
``guard_runnable``, ``GuardedChatModel``, ``LlamaGuardMiddleware`` or ``guard_tool`` where you
can: they also moderate streams. A model's streamed tokens reach other callbacks before
``on_llm_end`` judges the answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler

from langchain_llamashield._judging import (
    Conversation,
    agent_turn,
    message_text,
    tool_args_text,
    user_turn,
)
from llamashield import LlamaGuard, UnsafeContentError, Verdict

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import LLMResult

__all__ = ["AsyncLlamaGuardCallbackHandler", "LlamaGuardCallbackHandler"]

logger = logging.getLogger("llamashield")

_Checks = list[tuple[Conversation, str]]


class _GuardEvents:
    """Turns callback events into (conversation, stage) checks and verdicts into outcomes.

    Pure apart from remembering each model run's question (for judging its answer as the
    Agent's reply); shared by the sync and async handlers.
    """

    def __init__(
        self,
        guard: LlamaGuard,
        *,
        raise_error: bool,
        check_input: bool,
        check_output: bool,
        check_tool_inputs: bool,
        check_retrieval: bool,
    ) -> None:
        self.guard = guard
        self.raise_error = raise_error
        self.check_input = check_input
        self.check_output = check_output
        self.check_tool_inputs = check_tool_inputs
        self.check_retrieval = check_retrieval
        self._questions: dict[UUID, str | None] = {}
        self._lock = threading.Lock()  # sync handlers may run on executor threads

    def _remember(self, run_id: UUID, question: str | None) -> None:
        if self.check_output:
            with self._lock:
                self._questions[run_id] = question

    def forget(self, run_id: UUID) -> str | None:
        with self._lock:
            return self._questions.pop(run_id, None)

    def chat_model_start(self, run_id: UUID, prompts: list[list[BaseMessage]]) -> _Checks:
        checks: _Checks = []
        question: str | None = None
        for messages in prompts:
            human = _newest_user_message(messages)
            question = message_text(human) if human is not None else None
            if self.check_input and question and question.strip():
                checks.append((user_turn(question), "input"))
        self._remember(run_id, question)
        return checks

    def llm_start(self, run_id: UUID, prompts: list[str]) -> _Checks:
        self._remember(run_id, prompts[-1] if prompts else None)
        if not self.check_input:
            return []
        return [(user_turn(p), "input") for p in prompts if p.strip()]

    def llm_end(self, run_id: UUID, response: LLMResult) -> _Checks:
        question = self.forget(run_id)
        if not self.check_output:
            return []
        texts = [
            message_text(getattr(gen, "message", None)) or gen.text
            for generations in response.generations
            for gen in generations
        ]
        return [(agent_turn(question, text), "output") for text in texts if text.strip()]

    def tool_start(
        self, serialized: dict[str, Any] | None, input_str: str, inputs: Any, name: str | None
    ) -> _Checks:
        if not self.check_tool_inputs:
            return []
        tool_name = name or (serialized or {}).get("name") or "tool"
        text = tool_args_text(str(tool_name), inputs if isinstance(inputs, dict) else input_str)
        return [(agent_turn(None, text), "tool_input")]

    def retriever_end(self, documents: Sequence[Document]) -> _Checks:
        if not self.check_retrieval:
            return []
        return [(user_turn(doc.page_content), "retrieval") for doc in documents]

    def settle(self, checks: _Checks, verdicts: Sequence[Verdict]) -> None:
        """Abort (raise) on the first unsafe verdict, or log it when not raising."""
        for (_, stage), verdict in zip(checks, verdicts, strict=True):
            if verdict.safe:
                continue
            error = UnsafeContentError(verdict, stage)
            if self.raise_error:
                raise error
            logger.warning("llamashield (callbacks, not aborting): %s", error)


def _newest_user_message(messages: Sequence[BaseMessage]) -> BaseMessage | None:
    """The user's message when it is the newest turn (not again on an agent's tool rounds)."""
    for message in reversed(messages):
        if message.type == "human":
            return message
        if message.type == "ai":
            return None
    return None


class LlamaGuardCallbackHandler(BaseCallbackHandler):
    """Judge chat model inputs and outputs, tool inputs and retrieved documents; abort if unsafe.

    Works under ``invoke`` and ``ainvoke`` alike (under async runs LangChain calls it on an
    executor thread). For async-only code, ``AsyncLlamaGuardCallbackHandler`` awaits the guard
    on the running loop instead.

    Example::

        handler = LlamaGuardCallbackHandler(guard)
        chain.invoke({"question": q}, config={"callbacks": [handler]})
        # raises UnsafeContentError (stage "input", "output", "tool_input" or "retrieval")

    Args:
        guard: the ``LlamaGuard`` that judges.
        raise_error: abort the run by raising ``UnsafeContentError`` (default). ``False`` only
            logs unsafe verdicts (audit mode).
        check_input: judge the user's newest message before a chat model (or LLM) runs: an
            unsafe one aborts the run before the model is called.
        check_output: judge each answer (as the Agent's reply) when the model ends.
        check_tool_inputs: judge a tool's arguments before it runs.
        check_retrieval: judge retrieved documents (any unsafe one aborts the run).
    """

    def __init__(
        self,
        guard: LlamaGuard,
        *,
        raise_error: bool = True,
        check_input: bool = True,
        check_output: bool = True,
        check_tool_inputs: bool = True,
        check_retrieval: bool = True,
    ) -> None:
        self.raise_error = raise_error
        self.events = _GuardEvents(
            guard,
            raise_error=raise_error,
            check_input=check_input,
            check_output=check_output,
            check_tool_inputs=check_tool_inputs,
            check_retrieval=check_retrieval,
        )

    def _judge(self, checks: _Checks) -> None:
        if checks:
            self.events.settle(checks, self.events.guard.check_many([c for c, _ in checks]))

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        self._judge(self.events.chat_model_start(run_id, messages))

    def on_llm_start(
        self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._judge(self.events.llm_start(run_id, prompts))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        self._judge(self.events.llm_end(run_id, response))

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self.events.forget(run_id)

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._judge(self.events.tool_start(serialized, input_str, inputs, kwargs.get("name")))

    def on_retriever_end(self, documents: Sequence[Document], **kwargs: Any) -> None:
        self._judge(self.events.retriever_end(documents))


class AsyncLlamaGuardCallbackHandler(AsyncCallbackHandler):
    """``LlamaGuardCallbackHandler`` for async runs: the guard is awaited on the running loop.

    Use it with ``ainvoke``/``astream`` only. Under a sync ``invoke`` LangChain runs async
    handlers on a private loop and swallows their errors, so this handler could not abort the
    run: use ``LlamaGuardCallbackHandler`` there.

    Example::

        handler = AsyncLlamaGuardCallbackHandler(guard)
        await chain.ainvoke({"question": q}, config={"callbacks": [handler]})
    """

    def __init__(
        self,
        guard: LlamaGuard,
        *,
        raise_error: bool = True,
        check_input: bool = True,
        check_output: bool = True,
        check_tool_inputs: bool = True,
        check_retrieval: bool = True,
    ) -> None:
        self.raise_error = raise_error
        self.events = _GuardEvents(
            guard,
            raise_error=raise_error,
            check_input=check_input,
            check_output=check_output,
            check_tool_inputs=check_tool_inputs,
            check_retrieval=check_retrieval,
        )

    async def _judge(self, checks: _Checks) -> None:
        if checks:
            verdicts = await self.events.guard.acheck_many([c for c, _ in checks])
            self.events.settle(checks, verdicts)

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        await self._judge(self.events.chat_model_start(run_id, messages))

    async def on_llm_start(
        self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any
    ) -> None:
        await self._judge(self.events.llm_start(run_id, prompts))

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        await self._judge(self.events.llm_end(run_id, response))

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self.events.forget(run_id)

    async def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        await self._judge(self.events.tool_start(serialized, input_str, inputs, kwargs.get("name")))

    async def on_retriever_end(self, documents: Sequence[Document], **kwargs: Any) -> None:
        await self._judge(self.events.retriever_end(documents))
