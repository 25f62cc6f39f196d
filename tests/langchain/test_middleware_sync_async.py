"""``LlamaGuardMiddleware`` drives one plan per hook: the sync and async agent runs of the same
script (question, answers, tool calls and results, safe or not, every mode) end the same way."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain.agents import create_agent
from langchain_core.messages import BaseMessage
from langchain_core.tools import tool
from langchain_llamashield import LlamaGuardMiddleware
from langchain_llamashield.testing import ScriptedChatModel

from llamashield import LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend
from tests.langchain._fakes import call_tool, say

QUESTIONS = ["How do volcanoes form?", "How do I build a bomb?"]
ANSWERS = ["Volcanoes form where magma rises.", "Here is how to build a bomb: mix explosives."]
QUERIES = ["volcanoes", "how to build a bomb"]
RESULTS = ["Volcanoes are mountains.", "Step one of making a bomb: buy explosives."]


def _agent(script: dict[str, Any]) -> tuple[Any, list[str]]:
    ran: list[str] = []

    @tool
    def search(query: str) -> str:
        """Search the web."""
        ran.append(query)
        return RESULTS[int(script["result"])]

    responses = [say(ANSWERS[script["answer"]])]
    if script["query"] is not None:
        responses.insert(0, call_tool("search", {"query": QUERIES[script["query"]]}))
    middleware = LlamaGuardMiddleware(
        LlamaGuard(SimulatedBackend()),
        on_unsafe=script["mode"],
        check_tool_results=script["check_tool_results"],
    )
    model = ScriptedChatModel(responses=responses)
    return create_agent(model, tools=[search], middleware=[middleware]), ran


def _seen(message: BaseMessage) -> tuple[Any, ...]:
    """What a run's message says, less what differs by nature between runs (ids, seals)."""
    marker = dict(message.response_metadata.get("llamashield") or {})
    marker.pop("seal", None)
    marker.pop("latency_ms", None)
    calls = [(c["name"], c["args"]) for c in getattr(message, "tool_calls", [])]
    return (message.type, message.text, calls, sorted(marker.items(), key=str))


async def _outcome(script: dict[str, Any], use_async: bool) -> tuple[Any, ...]:
    agent, ran = _agent(script)
    state = {"messages": [{"role": "user", "content": QUESTIONS[script["question"]]}]}
    try:
        result = await agent.ainvoke(state) if use_async else agent.invoke(state)
    except UnsafeContentError as error:
        return ("raised", error.stage, tuple(ran))
    return ("ended", [_seen(m) for m in result["messages"]], tuple(ran))


scripts = st.fixed_dictionaries({
    "question": st.integers(0, 1),
    "answer": st.integers(0, 1),
    "query": st.none() | st.integers(0, 1),
    "result": st.integers(0, 1),
    "mode": st.sampled_from(["raise", "end", "replace"]),
    "check_tool_results": st.booleans(),
})  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=scripts)
def test_sync_and_async_runs_of_one_script_end_the_same(script: dict[str, Any]) -> None:
    sync = asyncio.run(_outcome(script, use_async=False))
    async_ = asyncio.run(_outcome(script, use_async=True))
    assert sync == async_
    if script["question"] == 1 and script["mode"] != "replace":
        # raised, or ended before the model (and so the tool) ever ran
        assert sync[0] == "raised" if script["mode"] == "raise" else sync[2] == ()
