"""Offline fakes for the LangChain tests: a scripted chat model that can call tools.

langchain-core's fake chat models have no ``bind_tools``, which ``create_agent`` needs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain.tools import ToolRuntime
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, AnyMessage, BaseMessage, ToolCall
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.prebuilt.tool_node import ToolCallRequest
from pydantic import Field, PrivateAttr


def say(text: str) -> AIMessage:
    """A scripted answer."""
    return AIMessage(content=text)


def call_tool(
    name: str, args: dict[str, Any], call_id: str = "call-1", text: str = ""
) -> AIMessage:
    """A scripted tool call."""
    return AIMessage(
        content=text, tool_calls=[ToolCall(name=name, args=args, id=call_id, type="tool_call")]
    )


def tool_call_request(
    call: ToolCall, messages: list[AnyMessage], tool: BaseTool | None = None
) -> ToolCallRequest:
    """What an agent's ToolNode hands ``wrap_tool_call``: the call, its tool, the state so far,
    and a runtime (no store, no stream writer), so a middleware can be driven without a graph."""
    state: dict[Any, Any] = {"messages": messages}
    runtime: ToolRuntime[None, dict[Any, Any]] = ToolRuntime(
        state=state,
        context=None,
        config={},
        stream_writer=lambda _: None,
        tool_call_id=call["id"],
        store=None,
    )
    return ToolCallRequest(tool_call=call, tool=tool, state=state, runtime=runtime)


class ToolCallingFakeChatModel(BaseChatModel):
    """Answers with the scripted messages in turn (the last one repeats), streaming word by word.

    ``calls`` counts model calls; ``seen`` keeps the messages each call received.
    """

    responses: list[AIMessage]
    calls: int = 0
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "tool-calling-fake"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, **kwargs)

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        with self._lock:
            scripted = self.responses[min(self.calls, len(self.responses) - 1)]
            self.calls += 1
            self.seen.append(list(messages))
        return scripted.model_copy(update={"id": None})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._next(messages)
        words = message.text.split(" ") if message.text else []
        for index, word in enumerate(words):
            token = word if index == len(words) - 1 else word + " "
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager:
                run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk
        if message.tool_calls:
            tool_chunks = [
                {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i}
                for i, c in enumerate(message.tool_calls)
            ]
            yield ChatGenerationChunk(
                message=AIMessageChunk(content="", tool_call_chunks=tool_chunks)
            )
