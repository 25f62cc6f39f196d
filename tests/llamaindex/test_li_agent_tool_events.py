"""guard_agent relays tool calls with their arguments judged: safe ones as they are, unsafe ones
without their arguments (events and ``output.tool_calls``), with or without guarded tools."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent, ToolCall, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.tools import FunctionTool
from llama_index.llamashield import guard_agent

from tests._support.last_turn import TRIGGER, last_turn_guard, leaks


async def run(query: str, guard_tools: bool) -> tuple[list[Any], Any]:
    def script(messages: Any, **_: Any) -> ChatMessage:
        if any(m.role == MessageRole.TOOL for m in messages):
            return ChatMessage(role="assistant", content="Done.")
        call = ToolCallBlock(tool_call_id="c1", tool_name="lookup", tool_kwargs={"query": query})
        return ChatMessage(role="assistant", blocks=[call])

    tool = FunctionTool.from_defaults(lambda query: "ok", name="lookup")
    llm = MockFunctionCallingLLM(response_generator=script)
    agent = guard_agent(
        FunctionAgent(tools=[tool], llm=llm), last_turn_guard()[0], guard_tools=guard_tools
    )
    handler = agent.run(user_msg="look it up")
    events = [e async for e in handler.stream_events() if isinstance(e, ToolCall | ToolCallResult)]
    return events, await handler


@pytest.mark.parametrize("guard_tools", [True, False])
async def test_safe_tool_arguments_are_relayed_as_they_are(guard_tools: bool) -> None:
    events, output = await run("weather in Paris", guard_tools)
    assert [type(e) for e in events] == [ToolCall, ToolCallResult]
    assert all(e.tool_kwargs == {"query": "weather in Paris"} for e in events)
    assert [c.tool_kwargs for c in output.tool_calls] == [{"query": "weather in Paris"}]


@pytest.mark.parametrize("guard_tools", [True, False])
async def test_unsafe_tool_arguments_are_left_out(guard_tools: bool) -> None:
    events, output = await run(f"{TRIGGER} PAYLOAD", guard_tools)
    assert [(type(e), e.tool_name, e.tool_id) for e in events] == [
        (ToolCall, "lookup", "c1"),
        (ToolCallResult, "lookup", "c1"),
    ]
    assert not leaks(events) and not leaks(output.tool_calls)
    assert [c.tool_name for c in output.tool_calls] == ["lookup"]
