"""LlamaGuardMiddleware judges a tool's result in `wrap_tool_call` "before the model (or the
messages stream) sees it", and holds the AGENT model's tokens back from live feeds
(`_tokens_held_back`: the model call is tagged nostream) until its answer is judged. A tool that
calls a chat model itself (a summarizer, a sub-agent, a RAG chain: LangChain's common
"model inside a tool") gets no such hold: LangGraph's `stream_mode="messages"` streams every
chat-model run in the graph, so the tool's model streams its tokens to the consumer while the
tool runs, before the result is judged. The result is then replaced in the state (the updates
stream is clean), but the consumer already read it token by token."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langchain_llamashield import LlamaGuardMiddleware
from langchain_llamashield.testing import ScriptedChatModel

from tests._support.last_turn import TRIGGER, last_turn_guard

summarizer = ScriptedChatModel(answer=f"Summary: the page says {TRIGGER} PAYLOAD in detail.")


@tool
def summarize(url: str) -> str:
    """Summarize a web page."""
    return summarizer.invoke(f"summarize {url}").text


def streamed(mode: Literal["messages", "updates"]) -> list[Any]:
    call = {"name": "summarize", "args": {"url": "https://x.test"}, "id": "c1"}
    model = ScriptedChatModel(responses=[AIMessage("", tool_calls=[call]), AIMessage("Done.")])
    guard, _ = last_turn_guard()
    middleware = LlamaGuardMiddleware(guard, on_unsafe="replace")
    agent = create_agent(model, tools=[summarize], middleware=[middleware])
    return list(agent.stream({"messages": [HumanMessage("summarize x.test")]}, stream_mode=mode))


def test_control_the_updates_stream_carries_the_replaced_result() -> None:
    updates = streamed("updates")
    assert not any("PAYLOAD" in repr(u) for u in updates)
    assert any("can't help" in repr(u) for u in updates)


@pytest.mark.xfail(strict=True, reason="escape: a tool's own model streams tokens unjudged")
def test_a_tools_model_tokens_never_stream_before_the_result_is_judged() -> None:
    tokens = [repr(chunk) for chunk in streamed("messages")]
    assert not any("PAYLOAD" in t for t in tokens), [t[:80] for t in tokens if "PAYLOAD" in t]
