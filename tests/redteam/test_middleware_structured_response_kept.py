"""create_agent(model, response_format=Schema, middleware=[LlamaGuardMiddleware(...)]): the
model's structured answer is judged and found unsafe, and the middleware replaces the answer
message with the refusal, but the agent state's `structured_response` (what the application
reads: `result["structured_response"]`) still holds the blocked answer, parsed. LangChain
parses it in the model node from the model's response (ToolStrategy: the schema's tool call;
ProviderStrategy: the JSON content) before or outside the middleware's replacement, so the
refusal reaches the consumer with the unsafe content beside it: a refusal must carry nothing of
what was blocked. Held: the messages themselves carry only the refusal."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.structured_output import ProviderStrategy, ToolStrategy
from langchain_core.messages import AIMessage, HumanMessage
from langchain_llamashield import LlamaGuardMiddleware
from langchain_llamashield.testing import ScriptedChatModel
from pydantic import BaseModel

from tests._support.last_turn import TRIGGER, last_turn_guard, leaks


class Answer(BaseModel):
    text: str


def _agent(strategy: str, text: str) -> Any:
    if strategy == "tool":
        call = {"name": "Answer", "args": {"text": text}, "id": "c1"}
        response = AIMessage(content="", tool_calls=[call])
        response_format: Any = ToolStrategy(Answer)
    else:
        response = AIMessage(content=Answer(text=text).model_dump_json())
        response_format = ProviderStrategy(Answer)
    model = ScriptedChatModel(responses=[response])
    guard = LlamaGuardMiddleware(last_turn_guard()[0], on_unsafe="end")
    return create_agent(model, tools=[], response_format=response_format, middleware=[guard])


@pytest.mark.parametrize("how", ["invoke", "ainvoke"])
@pytest.mark.parametrize("strategy", ["tool", "provider"])
def test_a_refused_structured_answer_leaves_no_structured_response(strategy: str, how: str) -> None:
    agent = _agent(strategy, f"{TRIGGER} PAYLOAD")
    value = {"messages": [HumanMessage("hi")]}
    result = agent.invoke(value) if how == "invoke" else asyncio.run(agent.ainvoke(value))
    assert "can't help" in result["messages"][-1].text  # the answer was refused...
    assert not leaks(result), f"...but the state keeps it: {result.get('structured_response')}"


@pytest.mark.parametrize("strategy", ["tool", "provider"])
def test_control_a_safe_structured_answer_is_returned(strategy: str) -> None:
    result = _agent(strategy, "a mild day").invoke({"messages": [HumanMessage("hi")]})
    assert result["structured_response"] == Answer(text="a mild day")
