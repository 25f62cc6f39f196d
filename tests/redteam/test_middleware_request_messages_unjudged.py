"""LlamaGuardMiddleware judges the STATE's messages (before_model) and the model's answer
(wrap_model_call), never the request it hands to the model. Messages another middleware puts
into the request (LangChain's documented "dynamic context" pattern: retrieved documents,
memories, summaries added with request.override(messages=...)) reach the model unjudged,
even with LlamaGuardMiddleware outermost, wrapping that middleware's model call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import ModelRequest, ModelResponse, wrap_model_call
from langchain_core.messages import HumanMessage
from langchain_llamashield import LlamaGuardMiddleware
from langchain_llamashield.testing import ScriptedChatModel

from tests._support.last_turn import TRIGGER, last_turn_guard


@wrap_model_call
def add_retrieved_context(
    request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResponse[Any]]
) -> ModelResponse[Any]:
    document = f"Retrieved: {TRIGGER} PAYLOAD"  # a poisoned document from a store
    messages = [*request.messages, HumanMessage(document)]
    return handler(request.override(messages=messages))


def test_what_the_model_reads_is_judged() -> None:
    """LlamaGuardMiddleware after the middleware that adds to the request (it wraps the model
    call closest to the model, and sees the request as the model will). Placed before it, it
    cannot see what the inner middleware adds: the README says where to place it."""
    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer="ok")
    agent = create_agent(
        model,
        tools=[],
        middleware=[add_retrieved_context, LlamaGuardMiddleware(guard, on_unsafe="end")],
    )
    agent.invoke({"messages": [HumanMessage("what's new?")]})
    read = [m.text for call in model.seen for m in call]
    assert not any("PAYLOAD" in t for t in read), "a document in the request reached the model"
