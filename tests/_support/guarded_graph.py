"""The LangGraph graph the LlamaGuardNode tests guard: START, the input guard, the model, the
output guard, END; an unsafe input routes to END (``route_unsafe``)."""

from __future__ import annotations

from typing import Any

from langchain_llamashield.langgraph import LlamaGuardNode, route_unsafe
from langchain_llamashield.testing import ScriptedChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph

from llamashield import LlamaGuard


def guarded_graph(
    guard: LlamaGuard,
    model: ScriptedChatModel,
    *,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    **options: Any,
) -> Any:
    """Compiled, with ``options`` given to both guard nodes."""

    def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("guard_input", LlamaGuardNode(guard, **options), input_schema=MessagesState)
    builder.add_node("model", call_model)
    builder.add_node(
        "guard_output", LlamaGuardNode(guard, stage="output", **options), input_schema=MessagesState
    )
    builder.add_edge(START, "guard_input")
    builder.add_conditional_edges("guard_input", route_unsafe, {"safe": "model", "unsafe": END})
    builder.add_edge("model", "guard_output")
    builder.add_edge("guard_output", END)
    return builder.compile(checkpointer=checkpointer)
