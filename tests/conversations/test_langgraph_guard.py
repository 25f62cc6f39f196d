"""LlamaGuardNode and route_unsafe on a real compiled LangGraph graph with a checkpointer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_llamashield.langgraph import LlamaGuardNode, route_unsafe
from langchain_llamashield.testing import ScriptedChatModel
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command

from llamashield import ConfigurationError, LlamaGuard, UnsafeContentError
from tests._support.guarded_graph import guarded_graph
from tests._support.last_turn import TRIGGER, last_turn_guard, leaks


def build(guard: LlamaGuard, model: ScriptedChatModel, **options: Any) -> Any:
    return guarded_graph(guard, model, checkpointer=InMemorySaver(), **options)


def thread(name: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": name}}


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_resumed_thread_judges_only_what_is_new(use_async: bool) -> None:
    guard, backend = last_turn_guard()
    model = ScriptedChatModel(answer="Bread needs flour.")
    graph = build(guard, model)

    def run(text: str) -> dict[str, Any]:
        update = {"messages": [HumanMessage(text)]}
        state: dict[str, Any] = (
            asyncio.run(graph.ainvoke(update, thread("t")))
            if use_async
            else graph.invoke(update, thread("t"))
        )
        return state

    run("How do I bake bread?")
    assert backend.calls == 2  # the question (before the model), the answer (after it)
    for turn in range(3):
        before = backend.calls
        state = run(f"And step {turn}?")
        # the new question and the new answer; the earlier turns were judged and remembered
        assert backend.calls - before == 2
        assert state["messages"][-1].text == "Bread needs flour."
    assert model.calls == 4


def test_an_edited_saved_state_is_judged_again() -> None:
    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer="Bread needs flour.")
    graph = build(guard, model)
    state = graph.invoke({"messages": [HumanMessage("How do I bake bread?")]}, thread("e"))
    answer = state["messages"][-1]
    # Someone edits the saved answer in the checkpoint (same id, other content).
    forged = AIMessage(content=f"Sure: {TRIGGER}", id=answer.id)
    graph.update_state(thread("e"), {"messages": [forged]})
    state = graph.invoke({"messages": [HumanMessage("thanks")]}, thread("e"))
    assert model.calls == 1  # the model never read the edited turn
    last = state["messages"][-1]
    assert route_unsafe(state) == "unsafe" and "can't help" in last.text
    assert not leaks(state["messages"])  # the edited turn left the state with the question


def test_a_blocked_turn_leaves_the_thread_usable() -> None:
    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer="Bread needs flour.")
    graph = build(guard, model)
    blocked = graph.invoke({"messages": [HumanMessage(f"tell me {TRIGGER}")]}, thread("b"))
    assert model.calls == 0 and route_unsafe(blocked) == "unsafe"
    assert not leaks(blocked["messages"])
    answered = graph.invoke({"messages": [HumanMessage("How do I bake bread?")]}, thread("b"))
    assert model.calls == 1 and answered["messages"][-1].text == "Bread needs flour."


def test_on_unsafe_end_ends_the_graph() -> None:
    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer="ok")
    builder = StateGraph(MessagesState)
    node = LlamaGuardNode(guard, on_unsafe="end", goto="model")
    builder.add_node("guard", node, destinations=("model", END), input_schema=MessagesState)
    builder.add_node("model", lambda s: {"messages": [model.invoke(s["messages"])]})
    builder.add_edge(START, "guard")
    builder.add_edge("model", END)
    graph = builder.compile()
    state = graph.invoke({"messages": [HumanMessage("hi"), AIMessage(TRIGGER), HumanMessage("go")]})
    assert model.calls == 0 and "can't help" in state["messages"][-1].text
    assert graph.invoke({"messages": [HumanMessage("hi")]})["messages"][-1].text == "ok"


@pytest.mark.parametrize(("decision", "answered"), [("allow", True), ("deny", False)])
def test_interrupt_asks_a_human(decision: str, answered: bool) -> None:
    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer="Here you go.")
    graph = build(guard, model, on_unsafe="interrupt")
    config = thread(f"i-{decision}")
    first = graph.invoke({"messages": [HumanMessage(f"{TRIGGER} please")]}, config)
    interrupts = first["__interrupt__"]
    assert interrupts[0].value["stage"] == "input"
    assert interrupts[0].value["llamashield"]["categories"] == ["S1"]
    assert model.calls == 0
    state = graph.invoke(Command(resume=decision), config)
    assert (model.calls >= 1) is answered
    if not answered:
        assert "can't help" in state["messages"][-1].text


def test_end_without_goto_is_a_configuration_error() -> None:
    guard, _ = last_turn_guard()
    with pytest.raises(ConfigurationError, match="goto="):
        LlamaGuardNode(guard, on_unsafe="end")
    with pytest.raises(ConfigurationError, match="goto="):
        LlamaGuardNode(guard, goto="model")


def test_on_unsafe_raise() -> None:
    guard, _ = last_turn_guard()
    graph = build(guard, ScriptedChatModel(answer="x"), on_unsafe="raise")
    with pytest.raises(UnsafeContentError):
        graph.invoke({"messages": [HumanMessage(TRIGGER)]}, thread("r"))
