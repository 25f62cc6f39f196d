"""LangChain guard_tool(..., on_unsafe="refuse", refusal=...) fills the documented
``{original_content}`` placeholder of the refusal template with the text of what was blocked
(tools.py GuardedTool._unsafe `refuse`: `format_refusal(..., content=readable_text(
blocked.content))`). The refusal is the tool's output: the ToolMessage goes back to the agent's
model. An unsafe tool result (a web page, a file) "refused" this way reaches the model whole,
inside the refusal; so do unsafe arguments. LlamaGuardMiddleware and the LlamaIndex guard_tool
leave the placeholder empty for this very reason (middleware.py: "the refusal enters the state
the blocked never goes back in"). Fixed here: the tool's refusal is the content-free
``Blocked.refusal``."""

from __future__ import annotations

import asyncio

from langchain_core.tools import tool
from langchain_llamashield import guard_tool

from tests._support.last_turn import TRIGGER, last_turn_guard, leaks

TEMPLATE = "Tool output withheld ({categories}): {original_content}"


@tool
def fetch(url: str) -> str:
    """Fetch a web page."""
    return f"<html>{TRIGGER} PAYLOAD</html>"


def call() -> dict[str, object]:
    return {"name": "fetch", "args": {"url": "https://x.test"}, "id": "c1", "type": "tool_call"}


def test_a_refused_tool_result_never_goes_back_to_the_model() -> None:
    guard, _ = last_turn_guard()
    guarded = guard_tool(fetch, guard, on_unsafe="refuse", refusal=TEMPLATE)
    message = guarded.invoke(call())
    assert "withheld" in str(message.content)  # refused...
    assert not leaks(message), f"...yet the model reads the result: {message.content}"
    assert not leaks(asyncio.run(guarded.ainvoke(call())))


def test_refused_arguments_never_go_back_to_the_model() -> None:
    guard, _ = last_turn_guard()
    guarded = guard_tool(fetch, guard, on_unsafe="refuse", refusal=TEMPLATE)
    args = {"name": "fetch", "args": {"url": f"{TRIGGER} PAYLOAD"}, "id": "c2", "type": "tool_call"}
    message = guarded.invoke(args)
    assert "withheld" in str(message.content)
    assert not leaks(message), message.content
