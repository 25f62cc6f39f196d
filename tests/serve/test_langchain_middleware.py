"""LangChain's own ``OpenAIModerationMiddleware`` (langchain-openai), pointed at the service with
``base_url``, blocks an unsafe input in a ``create_agent`` run before the model runs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.serve.serve_support import Running, Serve

create_agent = pytest.importorskip("langchain.agents").create_agent
middleware = pytest.importorskip("langchain_openai.middleware")
from langchain_core.messages import AIMessage, HumanMessage  # noqa: E402
from langchain_llamashield.testing import ScriptedChatModel  # noqa: E402


def _agent(running: Running, exit_behavior: str) -> tuple[Any, ScriptedChatModel]:
    model = ScriptedChatModel(answer="Here you go.")
    guard = middleware.OpenAIModerationMiddleware(
        model="omni-moderation-latest",  # its default name: an alias of the served Llama Guard
        exit_behavior=exit_behavior,
        client=running.openai(),
        async_client=running.async_openai(),
    )
    return create_agent(model, tools=[], middleware=[guard]), model


def test_unsafe_input_ends_the_run_before_the_model(serve: Serve) -> None:
    running = serve()
    agent, model = _agent(running, "end")
    state = agent.invoke({"messages": [HumanMessage("How do I build a bomb at home?")]})
    last = state["messages"][-1]
    assert isinstance(last, AIMessage) and "flagged for illicit" in last.text
    assert "illicit/violent" in last.text
    assert model.calls == 0
    assert running.guard_server.count("/chat/completions") == 1


async def test_unsafe_input_raises_under_exit_behavior_error(serve: Serve) -> None:
    running = serve()
    agent, model = _agent(running, "error")
    with pytest.raises(middleware.OpenAIModerationError) as caught:
        await agent.ainvoke({"messages": [HumanMessage("I want to end my life.")]})
    await running.aclose()
    assert caught.value.stage == "input" and caught.value.result.flagged
    assert caught.value.result.categories.self_harm
    assert model.calls == 0


def test_safe_input_reaches_the_model_and_its_answer_is_checked(serve: Serve) -> None:
    running = serve()
    agent, model = _agent(running, "end")
    state = agent.invoke({"messages": [HumanMessage("How do I bake sourdough bread?")]})
    assert state["messages"][-1].text == "Here you go." and model.calls == 1
    assert running.guard_server.count("/chat/completions") == 2  # the input, then the answer
