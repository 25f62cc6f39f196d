"""LlamaGuardMiddleware's `wrap_model_call` judges "messages in the request that are not in the
state (other middleware added them: retrieved documents, memories, summaries)", but only
`request.messages` (middleware.py `_judged_request`). LangChain's documented way for middleware
to add such context is the system prompt: `@dynamic_prompt` (or
`request.override(system_message=...)`) puts retrieved passages or a user's saved memories
there, and the model reads that SystemMessage first. With LlamaGuardMiddleware placed last, as
its docstring asks ("put LlamaGuardMiddleware last when others add to it"), that content still
reaches the model unjudged."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import dynamic_prompt
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langchain_llamashield import LlamaGuardMiddleware
from langchain_llamashield.testing import ScriptedChatModel

from tests._support.last_turn import TRIGGER, last_turn_guard
from tests.langchain._fakes import call_tool, say


@dynamic_prompt
def with_memories(request: Any) -> str:
    # e.g. facts saved from earlier sessions, or passages a retriever found for this question
    return f"You are helpful. What you remember about this user: {TRIGGER} PAYLOAD"


def test_a_system_prompt_built_by_other_middleware_is_judged() -> None:
    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer="ok")
    guarded = LlamaGuardMiddleware(guard, on_unsafe="end")
    agent = create_agent(model, tools=[], middleware=[with_memories, guarded])
    agent.invoke({"messages": [HumanMessage("hi")]})
    read = [m.text for call in model.seen for m in call]
    assert not any("PAYLOAD" in t for t in read), f"the model read unjudged context: {read}"


def test_async_a_system_prompt_built_by_other_middleware_is_judged() -> None:
    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer="ok")
    guarded = LlamaGuardMiddleware(guard, on_unsafe="end")
    agent = create_agent(model, tools=[], middleware=[with_memories, guarded])
    result = asyncio.run(agent.ainvoke({"messages": [HumanMessage("hi")]}))
    assert model.calls == 0
    assert "PAYLOAD" not in repr(result["messages"])


@dynamic_prompt
def with_safe_memories(request: Any) -> str:
    return "You are helpful. The user likes volcanoes."


def test_control_a_safe_system_prompt_is_judged_once_per_run() -> None:
    @tool
    def search(query: str) -> str:
        """Search the web."""
        return "Volcanoes are mountains."

    guard, backend = last_turn_guard()
    model = ScriptedChatModel(responses=[call_tool("search", {"query": "v"}), say("Magma.")])
    guarded = LlamaGuardMiddleware(guard, on_unsafe="end")
    agent = create_agent(model, tools=[search], middleware=[with_safe_memories, guarded])
    result = agent.invoke({"messages": [HumanMessage("hi")]})
    assert result["messages"][-1].text == "Magma."
    assert model.calls == 2  # the prompt is rebuilt for each model call, judged the first time
    assert sum("likes volcanoes" in turn for turn in backend.last_turns) == 1
