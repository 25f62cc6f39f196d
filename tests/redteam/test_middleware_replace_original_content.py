"""LlamaGuardMiddleware(on_unsafe="replace") with a refusal template using the documented
``{original_content}`` placeholder: the unsafe user message is "replaced" by a sealed message
whose text IS the unsafe content, and the run carries on to the model, which reads it
(middleware.py `_plan_input` -> `_violation` -> format_refusal; `_replaced` seals it, so no
later check looks at it again)."""

from __future__ import annotations

from langchain.agents import create_agent
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langchain_llamashield import LlamaGuardMiddleware
from langchain_llamashield.testing import ScriptedChatModel

from tests._support.last_turn import TRIGGER, last_turn_guard


def test_replaced_input_never_reaches_the_model() -> None:
    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer="ok")
    middleware = LlamaGuardMiddleware(
        guard, on_unsafe="replace", refusal="[blocked for {categories}: {original_content}]"
    )
    agent = create_agent(model, tools=[], middleware=[middleware])
    agent.invoke({"messages": [HumanMessage(f"step by step {TRIGGER} PAYLOAD")]})
    read = [m.text for call in model.seen for m in call]
    assert not any("PAYLOAD" in t for t in read), f"the model read the blocked input: {read}"


def test_end_refusal_with_original_content_never_reaches_the_model_later() -> None:
    """The same under on_unsafe="end": the sealed refusal (holding the blocked text) stays in
    the thread, trusted, and the model reads it on the thread's next turn."""
    from langgraph.checkpoint.memory import InMemorySaver

    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer="ok")
    middleware = LlamaGuardMiddleware(
        guard, on_unsafe="end", refusal="[blocked for {categories}: {original_content}]"
    )
    agent = create_agent(model, tools=[], middleware=[middleware], checkpointer=InMemorySaver())
    config: RunnableConfig = {"configurable": {"thread_id": "t"}}
    agent.invoke({"messages": [HumanMessage(f"step by step {TRIGGER} PAYLOAD")]}, config)
    assert model.calls == 0  # blocked
    agent.invoke({"messages": [HumanMessage("what's the weather?")]}, config)
    read = [m.text for call in model.seen for m in call]
    assert not any("PAYLOAD" in t for t in read), f"the model read the blocked input: {read}"
