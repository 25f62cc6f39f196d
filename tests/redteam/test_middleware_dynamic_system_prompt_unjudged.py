"""LlamaGuardMiddleware's `wrap_model_call` judges "messages in the request that are not in the
state (other middleware added them: retrieved documents, memories, summaries)", but only
`request.messages` (middleware.py `_judged_request`). LangChain's documented way for middleware
to add such context is the system prompt: `@dynamic_prompt` (or
`request.override(system_message=...)`) puts retrieved passages or a user's saved memories
there, and the model reads that SystemMessage first. With LlamaGuardMiddleware placed last, as
its docstring asks ("put LlamaGuardMiddleware last when others add to it"), that content still
reaches the model unjudged."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import dynamic_prompt
from langchain_core.messages import HumanMessage
from langchain_llamashield import LlamaGuardMiddleware
from langchain_llamashield.testing import ScriptedChatModel

from tests._support.last_turn import TRIGGER, last_turn_guard


@dynamic_prompt
def with_memories(request: Any) -> str:
    # e.g. facts saved from earlier sessions, or passages a retriever found for this question
    return f"You are helpful. What you remember about this user: {TRIGGER} PAYLOAD"


@pytest.mark.xfail(strict=True, reason="escape: a middleware-built system prompt is not judged")
def test_a_system_prompt_built_by_other_middleware_is_judged() -> None:
    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer="ok")
    guarded = LlamaGuardMiddleware(guard, on_unsafe="end")
    agent = create_agent(model, tools=[], middleware=[with_memories, guarded])
    agent.invoke({"messages": [HumanMessage("hi")]})
    read = [m.text for call in model.seen for m in call]
    assert not any("PAYLOAD" in t for t in read), f"the model read unjudged context: {read}"
