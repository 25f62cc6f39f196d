"""LlamaGuardMiddleware judges a tool's result in `wrap_tool_call` "before the model (or the
messages stream) sees it", and holds the AGENT model's tokens back from live feeds
(`_tokens_held_back`: the model call is tagged nostream) until its answer is judged. A tool that
calls a chat model itself (a summarizer, a sub-agent, a RAG chain: LangChain's common
"model inside a tool") gets no such hold: LangGraph's `stream_mode="messages"` streams every
chat-model run in the graph, so the tool's model streams its tokens to the consumer while the
tool runs, before the result is judged. The result is then replaced in the state (the updates
stream is clean), but the consumer already read it token by token."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langchain_llamashield import LlamaGuardMiddleware
from langchain_llamashield.testing import ScriptedChatModel
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command, interrupt

from tests._support.last_turn import TRIGGER, last_turn_guard


def agent(summary: str) -> Any:
    summarizer = ScriptedChatModel(answer=summary)

    @tool
    def summarize(url: str) -> str:
        """Summarize a web page."""
        return summarizer.invoke(f"summarize {url}").text

    call = {"name": "summarize", "args": {"url": "https://x.test"}, "id": "c1"}
    model = ScriptedChatModel(responses=[AIMessage("", tool_calls=[call]), AIMessage("Done.")])
    guard, _ = last_turn_guard()
    middleware = LlamaGuardMiddleware(guard, on_unsafe="replace")
    return create_agent(model, tools=[summarize], middleware=[middleware])


UNSAFE_SUMMARY = f"Summary: the page says {TRIGGER} PAYLOAD in detail."
ASK = {"messages": [HumanMessage("summarize x.test")]}


def streamed(mode: Literal["messages", "updates"], summary: str = UNSAFE_SUMMARY) -> list[Any]:
    return list(agent(summary).stream(ASK, stream_mode=mode))


def test_control_the_updates_stream_carries_the_replaced_result() -> None:
    updates = streamed("updates")
    assert not any("PAYLOAD" in repr(u) for u in updates)
    assert any("can't help" in repr(u) for u in updates)


def test_a_tools_model_tokens_never_stream_before_the_result_is_judged() -> None:
    tokens = [repr(chunk) for chunk in streamed("messages")]
    assert not any("PAYLOAD" in t for t in tokens), [t[:80] for t in tokens if "PAYLOAD" in t]


def test_async_a_tools_model_tokens_never_stream_before_the_result_is_judged() -> None:
    async def astreamed() -> list[Any]:
        return [c async for c in agent(UNSAFE_SUMMARY).astream(ASK, stream_mode="messages")]

    async def events() -> list[Any]:
        return [e async for e in agent(UNSAFE_SUMMARY).astream_events(ASK, version="v2")]

    assert not any("PAYLOAD" in repr(chunk) for chunk in asyncio.run(astreamed()))
    assert not any("PAYLOAD" in repr(event) for event in asyncio.run(events()))


def test_control_a_safe_results_tool_model_tokens_stream_once_judged() -> None:
    chunks = streamed("messages", "Summary: volcanoes are mountains.")
    texts = [(type(m).__name__, m.text) for m, _ in chunks]
    tokens = [
        i
        for i, (kind, text) in enumerate(texts)
        if kind == "AIMessageChunk" and "mountains" in text
    ]
    results = [i for i, (kind, _) in enumerate(texts) if kind == "ToolMessage"]
    assert tokens and results, texts
    assert max(tokens) < min(results)  # released before the judged result streams


def test_control_an_interrupt_in_a_tool_still_pauses_and_resumes_the_run() -> None:
    @tool
    def approve(url: str) -> str:
        """Ask a human before reading a page."""
        return f"approved: {interrupt('read ' + url + '?')}"

    call = {"name": "approve", "args": {"url": "https://x.test"}, "id": "c1"}
    model = ScriptedChatModel(responses=[AIMessage("", tool_calls=[call]), AIMessage("Done.")])
    middleware = LlamaGuardMiddleware(last_turn_guard()[0], on_unsafe="replace")
    graph: Any = create_agent(
        model, tools=[approve], middleware=[middleware], checkpointer=InMemorySaver()
    )
    config: Any = {"configurable": {"thread_id": "t"}}
    assert "__interrupt__" in graph.invoke(ASK, config)
    messages = graph.invoke(Command(resume="yes"), config)["messages"]
    assert [m.text for m in messages][-2:] == ["approved: yes", "Done."]
