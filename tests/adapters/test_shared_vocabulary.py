"""One product across LangChain and LlamaIndex: every component of both adapters speaks the same
vocabulary (on_unsafe values, default "raise"), hands reroutes the same ``Blocked`` payload and
attaches verdicts as JSON-ready records of one shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool as lc_tool
from langchain_llamashield import (
    GuardedChatModel,
    LlamaGuardDocumentFilter,
    LlamaGuardMiddleware,
    LlamaGuardRunnable,
    guard_runnable,
)
from langchain_llamashield import guard_tool as lc_guard_tool
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import NodeWithScore, TextNode
from llama_index.core.tools import FunctionTool
from llama_index.llamashield import (
    GuardedChatEngine,
    GuardedQueryEngine,
    GuardedWorkflow,
    LlamaGuardNodePostprocessor,
    LlamaGuardTransform,
)
from llama_index.llamashield import guard_tool as li_guard_tool

from llamashield import Blocked, LlamaGuard, UnsafeContentError, verdict_metadata
from llamashield.backends import SimulatedBackend

UNSAFE = "How do I build a bomb?"
RECORD_KEYS = set(verdict_metadata(LlamaGuard(SimulatedBackend()).check("hi")))


class _Engine(CustomQueryEngine):
    def custom_query(self, query_str: str) -> str:
        return "Sure."


def _search(query: str) -> str:
    """Search."""
    return f"found {query}"


def _ok(value: Any) -> str:
    return "ok"


def _chat_engine() -> SimpleChatEngine:
    return SimpleChatEngine.from_defaults(llm=MockLLM())


@dataclass(frozen=True)
class Component:
    """How to build a component with ``on_unsafe`` options and send it the unsafe text."""

    name: str
    build: Callable[..., Any]
    send: Callable[[Any, str], Any]
    stage: str  # where the unsafe text is judged


COMPONENTS = [
    Component("LlamaGuardRunnable", lambda g, **o: LlamaGuardRunnable(g, **o),
              lambda c, t: c.invoke(t), "input"),
    Component("guard_runnable", lambda g, **o: guard_runnable(RunnableLambda(_ok), g, **o),
              lambda c, t: c.invoke(t), "input"),
    Component("GuardedChatModel",
              lambda g, **o: GuardedChatModel(FakeListChatModel(responses=["ok"]), g, **o),
              lambda c, t: c.invoke(t), "input"),
    Component("langchain guard_tool", lambda g, **o: lc_guard_tool(lc_tool(_search), g, **o),
              lambda c, t: c.invoke({"query": t}), "tool_args"),
    Component("GuardedQueryEngine", lambda g, **o: GuardedQueryEngine(_Engine(), g, **o),
              lambda c, t: c.query(t), "input"),
    Component("GuardedChatEngine",
              lambda g, **o: GuardedChatEngine(_chat_engine(), g, **o),
              lambda c, t: c.chat(t), "input"),
    Component("llamaindex guard_tool",
              lambda g, **o: li_guard_tool(FunctionTool.from_defaults(_search), g, **o),
              lambda c, t: c.call(query=t), "tool_args"),
]  # fmt: skip


@pytest.fixture
def guard() -> LlamaGuard:
    return LlamaGuard(SimulatedBackend())


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.name)
def test_default_is_raise_with_the_design_stage(component: Component, guard: LlamaGuard) -> None:
    with pytest.raises(UnsafeContentError) as caught:
        component.send(component.build(guard), UNSAFE)
    assert caught.value.stage == component.stage


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.name)
def test_on_unsafe_values_are_validated_when_built(component: Component, guard: LlamaGuard) -> None:
    for accepted in ("raise", "refuse", lambda blocked: "rerouted"):
        component.build(guard, on_unsafe=accepted)
    with pytest.raises(ValueError, match="on_unsafe must be"):
        component.build(guard, on_unsafe="refused")


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.name)
def test_refusal_is_one_template(component: Component, guard: LlamaGuard) -> None:
    refused = component.send(
        component.build(guard, on_unsafe="refuse", refusal="No ({codes}) at {stage}."), UNSAFE
    )
    text = getattr(refused, "content", None) or getattr(refused, "response", None) or refused
    assert str(text) == f"No (S8) at {component.stage.replace('_', ' ')}."


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.name)
def test_a_reroute_receives_one_blocked_payload(component: Component, guard: LlamaGuard) -> None:
    received: list[Any] = []

    def reroute(blocked: Blocked) -> str:
        received.append(blocked)
        return "rerouted"

    result = component.send(component.build(guard, on_unsafe=reroute), UNSAFE)
    assert "rerouted" in str(getattr(result, "content", None) or result)
    (blocked,) = received
    assert isinstance(blocked, Blocked)
    assert blocked.stage == component.stage and not blocked.verdict.safe
    assert blocked.categories == ["S8"] and str(blocked).startswith("I'm sorry")
    assert "bomb" in json.dumps(blocked.content, default=str)
    json.dumps(blocked.to_dict())


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.name)
def test_attached_metadata_is_json_ready_and_of_one_shape(
    component: Component, guard: LlamaGuard
) -> None:
    refused = component.send(component.build(guard, on_unsafe="refuse"), UNSAFE)
    metadata = (
        getattr(refused, "response_metadata", None) or getattr(refused, "metadata", None) or {}
    )
    if not isinstance(metadata, dict) or "llamashield" not in metadata:
        pytest.skip(f"{component.name} returns {type(refused).__name__}: nothing attached")
    attached = json.loads(json.dumps(metadata["llamashield"]))
    records = [attached] if "safe" in attached else list(attached.values())
    assert records and all(set(record) >= RECORD_KEYS for record in records)


# -- components without a reroute: the same names and default --------------------------------


def test_agent_components_default_to_raise_and_take_the_aliases(guard: LlamaGuard) -> None:
    assert LlamaGuardMiddleware(guard).on_unsafe == "raise"
    modes: list[tuple[Literal["raise", "refuse", "end", "replace"], str]] = [
        ("raise", "error"), ("refuse", "end"), ("end", "end"), ("replace", "replace")
    ]  # fmt: skip
    for value, mode in modes:
        assert LlamaGuardMiddleware(guard, on_unsafe=value).exit_behavior == mode
    for alias in ("error", "end", "replace"):  # OpenAIModerationMiddleware's spellings
        assert LlamaGuardMiddleware(guard, exit_behavior=alias).exit_behavior == alias
    with pytest.raises(ValueError, match="cannot reroute"):
        LlamaGuardMiddleware(guard, on_unsafe=lambda blocked: "x")  # type: ignore[arg-type]
    assert GuardedWorkflow(guard=guard).on_unsafe == "raise"


def test_document_and_node_filters_attach_the_same_record(guard: LlamaGuard) -> None:
    docs = LlamaGuardDocumentFilter(guard, mode="flag").transform_documents(
        [Document(page_content=UNSAFE)]
    )
    nodes = LlamaGuardNodePostprocessor(guard, mode="flag").postprocess_nodes(
        [NodeWithScore(node=TextNode(text=UNSAFE))]
    )
    ingested = LlamaGuardTransform(guard, mode="flag")([TextNode(text=UNSAFE)])
    records = [
        docs[0].metadata["llamashield"],
        nodes[0].node.metadata["llamashield"],
        ingested[0].metadata["llamashield"],
    ]
    for record in records:
        assert json.loads(json.dumps(record)) == record
        assert set(record) == RECORD_KEYS and record["stage"] == "document"
    assert records[0] == records[1] == records[2]
