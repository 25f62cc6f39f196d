"""Scripted answers and tool calls for ``langchain_llamashield.testing.ScriptedChatModel``, and
a ``ToolCallRequest`` to drive a middleware's ``wrap_tool_call`` without a graph."""

from __future__ import annotations

from typing import Any

from langchain.tools import ToolRuntime
from langchain_core.messages import AIMessage, AnyMessage, ToolCall
from langchain_core.tools import BaseTool
from langgraph.prebuilt.tool_node import ToolCallRequest


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
