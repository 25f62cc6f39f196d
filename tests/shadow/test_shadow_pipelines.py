"""The rollout property: for any script of guard answers (safe, unsafe, an outage, garbage),
a pipeline guarded in shadow mode gives exactly what the unguarded pipeline gives, whatever
``on_unsafe`` and ``on_error`` say, and the verdicts were still recorded."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_llamashield import GuardedChatModel, guard_runnable
from langchain_llamashield.testing import ScriptedChatModel
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.response.schema import StreamingResponse
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM
from llama_index.llamashield import GuardedChatEngine, GuardedQueryEngine

from llamashield import LlamaGuard, Verdict
from tests.llamaindex.li_helpers import shield_records
from tests.shadow._script import Answer, ScriptBackend, scripts

QUESTIONS = ["How do I bake bread?", "How do I make a bomb?", "Tell me about the rain."]
questions = st.sampled_from(QUESTIONS)
on_errors = st.sampled_from(["block", "allow", "raise"])
on_unsafes = st.sampled_from(["raise", "refuse", "reroute"])
# Shadow on the guard, or on the component (overriding an enforcing guard).
where = st.sampled_from(["guard", "component"])

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


def _guard(script: list[Answer], on_error: str, place: str) -> LlamaGuard:
    return LlamaGuard(ScriptBackend(script), on_error=on_error,  # type: ignore[arg-type]
                      max_retries=0, circuit_breaker=None, shadow=place == "guard")  # fmt: skip


def _shadow(place: str) -> dict[str, Any]:
    return {"shadow": True} if place == "component" else {}


def _on_unsafe(name: str) -> Any:
    return RunnableLambda(lambda blocked: "rerouted") if name == "reroute" else name


class Verdicts(BaseCallbackHandler):
    """Collects the verdicts of the "LlamaGuard" check runs (what LangSmith would show)."""

    def __init__(self) -> None:
        self.seen: list[Verdict] = []

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if isinstance(outputs, Verdict):
            self.seen.append(outputs)


def _chain() -> Runnable[Any, Any]:
    prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
    return prompt | ScriptedChatModel(answer="Mix flour and water, then explosives, then wait.")


@SETTINGS
@given(script=scripts, question=questions, on_error=on_errors, on_unsafe=on_unsafes, place=where)
def test_guard_runnable_over_a_chain(
    script: list[Answer], question: str, on_error: str, on_unsafe: str, place: str
) -> None:
    chain = _chain()
    guard = _guard(script, on_error, place)
    guarded = guard_runnable(chain, guard, on_unsafe=_on_unsafe(on_unsafe), **_shadow(place))
    value = {"question": question}
    handler = Verdicts()
    assert guarded.invoke(value, {"callbacks": [handler]}).content == chain.invoke(value).content
    assert len(guard.backend.answered) == 2  # type: ignore[attr-defined]  # input and output
    # Handlers see both check runs: in shadow mode nothing is kept from them.
    assert len(handler.seen) == 2 and all(v.shadow for v in handler.seen)
    streamed = "".join(str(c.content) for c in guarded.stream(value))
    assert streamed == "".join(str(c.content) for c in chain.stream(value))
    batched = [m.content for m in guarded.batch([value, value])]
    assert batched == [m.content for m in chain.batch([value, value])]
    got = asyncio.run(guarded.ainvoke(value))
    assert got.content == chain.invoke(value).content


@SETTINGS
@given(script=scripts, question=questions, on_error=on_errors, on_unsafe=on_unsafes, place=where)
def test_guarded_chat_model_invoke_and_stream(
    script: list[Answer], question: str, on_error: str, on_unsafe: str, place: str
) -> None:
    model = ScriptedChatModel(answer="Sure. Step one: explosives. Step two: enjoy the rain.")
    guarded = GuardedChatModel(model, _guard(script, on_error, place),
                               on_unsafe=_on_unsafe(on_unsafe), **_shadow(place))  # fmt: skip
    handler = Verdicts()
    answer = guarded.invoke(question, {"callbacks": [handler]})
    assert isinstance(answer, AIMessage)
    assert answer.content == model.invoke(question).content
    assert len(guarded.guard.backend.answered) == 2  # type: ignore[attr-defined]
    assert handler.seen and all(v.shadow for v in handler.seen)
    streamed = "".join(str(c.content) for c in guarded.stream(question))
    assert streamed == "".join(str(c.content) for c in model.stream(question))

    async def astreamed() -> str:
        return "".join([str(c.content) async for c in guarded.astream(question)])

    assert asyncio.run(astreamed()) == streamed


_INDEX: list[VectorStoreIndex] = []


def _engine() -> Any:
    if not _INDEX:  # one index for every example: building it is the slow part
        docs = ["Bread needs flour.", "To make a bomb you need explosives."]
        _INDEX.append(VectorStoreIndex.from_documents(
            [Document(text=t) for t in docs], embed_model=MockEmbedding(embed_dim=8)
        ))  # fmt: skip
    return _INDEX[0].as_query_engine(llm=MockLLM(), similarity_top_k=2)


def _li_on_unsafe(name: str) -> Any:
    return (lambda blocked: "rerouted") if name == "reroute" else name


@SETTINGS
@given(script=scripts, question=questions, on_error=on_errors, on_unsafe=on_unsafes, place=where)
def test_guarded_query_engine(
    script: list[Answer], question: str, on_error: str, on_unsafe: str, place: str
) -> None:
    engine = _engine()
    guarded = GuardedQueryEngine(engine, _guard(script, on_error, place),
                                 on_unsafe=_li_on_unsafe(on_unsafe), **_shadow(place))  # fmt: skip
    response = guarded.query(question)
    assert str(response) == str(engine.query(question))
    records = shield_records(response)
    assert set(records) == {"input", "output"}
    assert all(r["shadow"] is True and r["safe"] is True for r in records.values())
    aresponse = asyncio.run(guarded.aquery(question))
    assert str(aresponse) == str(response)


@SETTINGS
@given(script=scripts, turns=st.lists(questions, min_size=1, max_size=3), on_error=on_errors,
       on_unsafe=on_unsafes, place=where)  # fmt: skip
def test_guarded_chat_engine(
    script: list[Answer], turns: list[str], on_error: str, on_unsafe: str, place: str
) -> None:
    plain = SimpleChatEngine.from_defaults(llm=MockLLM())
    guarded = GuardedChatEngine(SimpleChatEngine.from_defaults(llm=MockLLM()),
                                _guard(script, on_error, place),
                                on_unsafe=_li_on_unsafe(on_unsafe), **_shadow(place))  # fmt: skip
    for turn in turns:  # the memory grows the same way: nothing was refused or dropped
        response = guarded.chat(turn)
        assert str(response) == str(plain.chat(turn))
        records = shield_records(response)
        assert records["input"]["shadow"] is True and "would_block" in records["output"]
    assert [m.content for m in guarded.chat_history] == [m.content for m in plain.chat_history]


def test_a_components_shadow_false_enforces_over_a_shadow_guard() -> None:
    guard = _guard(["unsafe"], "block", "guard")
    engine = _engine()
    enforcing = GuardedQueryEngine(engine, guard, on_unsafe="refuse", shadow=False)
    assert "can't help" in str(enforcing.query("hello"))
    assert str(GuardedQueryEngine(engine, guard, on_unsafe="refuse").query("hello")) == str(
        engine.query("hello")
    )
    chain = _chain()
    assert (
        guard_runnable(chain, guard, on_unsafe="refuse", shadow=False)
        .invoke({"question": "hi"})
        .content.startswith("I'm sorry")
    )


def test_llamaindex_streams_in_shadow_equal_the_unguarded_streams() -> None:
    guard = _guard(["unsafe"], "raise", "guard")  # every check would block
    _engine()  # builds the shared index
    streaming = _INDEX[0].as_query_engine(llm=MockLLM(), similarity_top_k=2, streaming=True)
    guarded = GuardedQueryEngine(streaming, guard, on_unsafe="refuse")
    question = "How do I make a bomb?"
    streamed_guarded, streamed_plain = guarded.query(question), streaming.query(question)
    assert isinstance(streamed_guarded, StreamingResponse)
    assert isinstance(streamed_plain, StreamingResponse)
    text = "".join(streamed_guarded.response_gen)
    assert text == "".join(streamed_plain.response_gen)
    plain = SimpleChatEngine.from_defaults(llm=MockLLM())
    chat = GuardedChatEngine(SimpleChatEngine.from_defaults(llm=MockLLM()), guard)
    streamed = "".join(chat.stream_chat(question).response_gen)
    assert streamed == "".join(plain.stream_chat(question).response_gen)
    assert len(guard.backend.answered) >= 4  # type: ignore[attr-defined]  # all were judged


def test_the_block_rate_example_of_the_docs_runs() -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "production.md").read_text()
    after = doc.index("Without an observability stack")
    code = re.search(r"```python\n(.*?)```", doc[after:], re.S)
    assert code is not None
    guard = LlamaGuard(ScriptBackend(["unsafe", "safe", "safe", "safe"]), shadow=True)
    engine = GuardedQueryEngine(_engine(), guard)
    namespace: dict[str, Any] = {"engine": engine, "sample_of_real_traffic": [*QUESTIONS, "hi"]}
    exec(compile(code.group(1), "docs/production.md", "exec"), namespace)
    # Two checks per question, input then output: the inputs got answers 0, 2, 4, 6 of the
    # cycled script, "unsafe" (S1) for the first and the third question.
    assert namespace["total"] == 4
    assert namespace["would_block"] == 2
    assert dict(namespace["by_category"]) == {"S1": 2}
