"""LangGraph: the documented output guard is a LlamaGuardNode AFTER the model node
(langgraph.py module example: model -> guard_output). Everything the model node emits reaches
consumers and the checkpointer before that node judges it: `stream_mode="updates"` (and
"messages", "values") hand the unsafe answer to the consumer, and the thread's checkpoint
holds it, though guard_output then removes it from the state."""

from __future__ import annotations

from typing import Any

from _helpers import TRIGGER, last_turn_guard
from langchain_core.messages import HumanMessage
from langchain_llamashield.langgraph import LlamaGuardNode, route_unsafe
from langchain_llamashield.testing import ScriptedChatModel
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph


def test_the_consumer_never_receives_an_unjudged_answer() -> None:
    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer=f"Sure: {TRIGGER} PAYLOAD")

    def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("guard_input", LlamaGuardNode(guard))
    builder.add_node("model", call_model)
    builder.add_node("guard_output", LlamaGuardNode(guard, stage="output"))
    builder.add_edge(START, "guard_input")
    builder.add_conditional_edges("guard_input", route_unsafe, {"safe": "model", "unsafe": END})
    builder.add_edge("model", "guard_output")
    builder.add_edge("guard_output", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    updates = list(
        graph.stream({"messages": [HumanMessage("tell me")]}, config, stream_mode="updates")
    )
    final = graph.get_state(config).values["messages"]
    assert not any("PAYLOAD" in m.text for m in final)  # the guard did remove it in the end
    assert "PAYLOAD" not in repr(updates), "the consumer received the unsafe answer first"
