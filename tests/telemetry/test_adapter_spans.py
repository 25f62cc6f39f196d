"""Under a LangChain or LlamaIndex run that the application traces with OpenTelemetry, the
guard's spans are children of the application's span: the component's span, and its checks."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable
from langchain_llamashield import GuardedChatModel, guard_runnable
from langchain_llamashield.testing import ScriptedChatModel
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM
from llama_index.llamashield import GuardedChatEngine, GuardedQueryEngine
from opentelemetry.sdk.trace import ReadableSpan

from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend
from tests.telemetry._otel import Otel


def _guard() -> LlamaGuard:
    return LlamaGuard(SimulatedBackend())


def _children(otel: Otel, parent: ReadableSpan | int) -> list[ReadableSpan]:
    span_id = parent if isinstance(parent, int) else parent.context.span_id
    return [s for s in otel.spans() if s.parent is not None and s.parent.span_id == span_id]


def _assert_nested(otel: Otel, app_span_id: int, component: str, stages: set[str]) -> None:
    (component_span,) = [
        s for s in _children(otel, app_span_id) if s.name.startswith("llamashield")
    ]
    assert component_span.name == f"llamashield {component}"
    checks = [s for s in _children(otel, component_span) if s.name.startswith("apply_guardrail")]
    assert {dict(s.attributes or {})["llamashield.stage"] for s in checks} == stages
    assert dict(component_span.attributes or {})["llamashield.checks"] == len(checks)
    trace_ids = {s.context.trace_id for s in [component_span, *checks] if s.context}
    assert len(trace_ids) == 1


def _chain() -> Runnable[dict[str, str], BaseMessage]:
    prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
    return prompt | FakeListChatModel(responses=["Bread needs flour, water and time."])


def test_a_langchain_chain_invoke(otel: Otel) -> None:
    chain = guard_runnable(_chain(), _guard())
    with otel.tracer.start_as_current_span("app") as app:
        chain.invoke({"question": "How do I bake bread?"})
    _assert_nested(otel, app.get_span_context().span_id, "GuardedRunnable", {"input", "output"})


async def test_a_langchain_chain_ainvoke(otel: Otel) -> None:
    chain = guard_runnable(_chain(), _guard())
    with otel.tracer.start_as_current_span("app") as app:
        await chain.ainvoke({"question": "How do I bake bread?"})
    _assert_nested(otel, app.get_span_context().span_id, "GuardedRunnable", {"input", "output"})


def test_a_langchain_batch_runs_its_checks_under_the_app_span(otel: Otel) -> None:
    chain = guard_runnable(_chain(), _guard())
    with otel.tracer.start_as_current_span("app") as app:
        chain.batch([{"question": "bread?"}, {"question": "rain?"}, {"question": "garden?"}])
    components = [s for s in _children(otel, app.get_span_context().span_id)
                  if s.name == "llamashield GuardedRunnable"]  # fmt: skip
    assert len(components) == 3  # LangChain's executor copies the context; so does the guard's
    for component in components:
        assert len(_children(otel, component)) == 2


def test_a_langchain_unsafe_input_marks_the_component_blocked(otel: Otel) -> None:
    chain = guard_runnable(_chain(), _guard(), on_unsafe="refuse")
    with otel.tracer.start_as_current_span("app"):
        chain.invoke({"question": "How do I build a bomb?"})
    (component,) = otel.named("llamashield GuardedRunnable")
    assert dict(component.attributes or {})["llamashield.blocked"] is True


def test_a_guarded_chat_model_stream(otel: Otel) -> None:
    model = GuardedChatModel(ScriptedChatModel(answer="Hello there. How are you today?"), _guard())
    with otel.tracer.start_as_current_span("app") as app:
        text = "".join(str(chunk.content) for chunk in model.stream("hi"))
    assert text == "Hello there. How are you today?"
    app_id = app.get_span_context().span_id
    checks = otel.checks()
    assert {dict(s.attributes or {})["llamashield.stage"] for s in checks} == {"input", "output"}
    ids = {s.context.span_id for s in otel.spans() if s.context}
    for span in checks:  # each one under the app's span, directly or through a component span
        parent = span.parent
        assert parent is not None and parent.span_id in ids | {app_id}
        assert span.context is not None and span.context.trace_id == app.get_span_context().trace_id


@pytest.fixture
def engine() -> object:
    index = VectorStoreIndex.from_documents(
        [Document(text="Paris is the capital of France.")], embed_model=MockEmbedding(embed_dim=8)
    )
    return index.as_query_engine(llm=MockLLM())


def test_a_llamaindex_query(otel: Otel, engine: object) -> None:
    guarded = GuardedQueryEngine(engine, _guard())  # type: ignore[arg-type]
    with otel.tracer.start_as_current_span("app") as app:
        guarded.query("What is the capital of France?")
    _assert_nested(otel, app.get_span_context().span_id, "GuardedQueryEngine", {"input", "output"})


async def test_a_llamaindex_aquery(otel: Otel, engine: object) -> None:
    guarded = GuardedQueryEngine(engine, _guard())  # type: ignore[arg-type]
    with otel.tracer.start_as_current_span("app") as app:
        await guarded.aquery("What is the capital of France?")
    _assert_nested(otel, app.get_span_context().span_id, "GuardedQueryEngine", {"input", "output"})


@pytest.mark.parametrize("mode", ["chat", "achat"])
async def test_a_llamaindex_chat(otel: Otel, mode: str) -> None:
    guarded = GuardedChatEngine(SimpleChatEngine.from_defaults(llm=MockLLM()), _guard())
    with otel.tracer.start_as_current_span("app") as app:
        if mode == "chat":
            guarded.chat("Hello!")
        else:
            await guarded.achat("Hello!")
    _assert_nested(otel, app.get_span_context().span_id, "GuardedChatEngine", {"input", "output"})
