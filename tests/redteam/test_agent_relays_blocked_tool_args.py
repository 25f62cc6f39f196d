"""guard_agent: an unsafe tool call the agent's LLM wrote is blocked by the guarded tool (the
tool never runs), yet the consumer receives its arguments verbatim: `handler.stream_events()`
relays the `ToolCall` event (emitted before the tool is even called, so before any judging) and
the `ToolCallResult` (its `tool_kwargs`), and the final `AgentOutput.tool_calls` lists the
call (workflow.py `_AgentRun.run_agent`: "Tool traffic is already judged by the guarded
tools"; `_output_plan` judges `output.response` and `structured_response` only). Tool-call
arguments are the Agent's words: the same run withholds the LLM's token deltas precisely because
"they would show the answer before it is judged"."""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.tools import FunctionTool
from llama_index.llamashield import guard_agent

from tests._support.last_turn import TRIGGER, last_turn_guard, leaks


def script(messages: Any, **_: Any) -> ChatMessage:
    """The agent's LLM: one tool call with the payload as its argument, then "Done."."""
    if any(m.role == MessageRole.TOOL for m in messages):
        return ChatMessage(role="assistant", content="Done.")
    call = ToolCallBlock(tool_call_id="c1", tool_name="lookup", tool_kwargs={"query": PAYLOAD})
    return ChatMessage(role="assistant", blocks=[call])


PAYLOAD = f"{TRIGGER} PAYLOAD"


def run() -> tuple[list[Any], Any, list[str]]:
    ran: list[str] = []

    def lookup(query: str) -> str:
        ran.append(query)
        return "ok"

    tool = FunctionTool.from_defaults(lookup, name="lookup")
    llm = MockFunctionCallingLLM(response_generator=script)
    guard, _ = last_turn_guard()
    agent = guard_agent(FunctionAgent(tools=[tool], llm=llm), guard, on_unsafe="refuse")

    async def go() -> tuple[list[Any], Any]:
        handler = agent.run(user_msg="look it up")
        events = [event async for event in handler.stream_events()]
        return events, await handler

    events, output = asyncio.run(go())
    return events, output, ran


def test_control_the_guarded_tool_never_runs() -> None:
    _, _, ran = run()
    assert ran == []


def test_blocked_tool_arguments_never_reach_the_consumer() -> None:
    events, output, _ = run()
    relayed = [type(e).__name__ for e in events if leaks(e)]
    assert relayed == [], f"events carrying the blocked arguments: {relayed}"
    assert not leaks(output.tool_calls), output.tool_calls
