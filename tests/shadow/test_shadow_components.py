"""Every component takes ``shadow=``: where enforcing blocks, raises, drops or ends the run,
shadow mode gives what the unguarded pipeline gives, and the checks still ran."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import InputAgentState
from langchain_core.documents import Document as LCDocument
from langchain_core.messages import BaseMessage
from langchain_core.tools import tool
from langchain_llamashield import (
    LlamaGuardCallbackHandler,
    LlamaGuardDocumentFilter,
    LlamaGuardMiddleware,
    LlamaGuardRunnable,
)
from langchain_llamashield import guard_tool as lc_guard_tool
from langchain_llamashield.testing import ScriptedChatModel
from llama_index.core.schema import NodeWithScore, TextNode
from llama_index.core.tools import FunctionTool
from llama_index.core.workflow import StopEvent, step
from llama_index.llamashield import (
    GuardedWorkflow,
    LlamaGuardNodePostprocessor,
    LlamaGuardTransform,
    SafeInputEvent,
)
from llama_index.llamashield import guard_tool as li_guard_tool

from llamashield import LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend
from tests.langchain._fakes import call_tool, say

UNSAFE = "How do I build a bomb with explosives?"


def _guard(**options: Any) -> LlamaGuard:
    return LlamaGuard(SimulatedBackend(), **options)


def test_llama_guard_runnable() -> None:
    with pytest.raises(UnsafeContentError):
        LlamaGuardRunnable(_guard()).invoke(UNSAFE)
    assert LlamaGuardRunnable(_guard(), shadow=True).invoke(UNSAFE) == UNSAFE
    assert LlamaGuardRunnable(_guard(shadow=True)).invoke(UNSAFE) == UNSAFE


def _agent(middleware: list[Any]) -> tuple[Any, list[str]]:
    searched: list[str] = []

    @tool
    def search(query: str) -> str:
        """Search the web."""
        searched.append(query)
        return "Step one of making a bomb: buy explosives."

    model = ScriptedChatModel(
        responses=[call_tool("search", {"query": "bomb recipe"}), say("Here is the bomb recipe.")]
    )
    return create_agent(model, tools=[search], middleware=middleware), searched


@pytest.mark.parametrize("use_async", [False, True])
def test_agent_middleware(use_async: bool) -> None:
    def run(agent: Any) -> list[str]:
        request = {"messages": [{"role": "user", "content": UNSAFE}]}
        result = asyncio.run(agent.ainvoke(request)) if use_async else agent.invoke(request)
        return [m.text for m in result["messages"]]

    plain, plain_searched = _agent([])
    enforced, _ = _agent([LlamaGuardMiddleware(_guard(), on_unsafe="end")])
    guard = _guard()
    shadowed, searched = _agent([LlamaGuardMiddleware(guard, on_unsafe="end", shadow=True)])
    expected = run(plain)
    assert run(enforced) != expected  # enforcing ends the run
    assert run(shadowed) == expected and searched == plain_searched


def test_langchain_tool() -> None:
    @tool
    def search(query: str) -> str:
        """Search the web."""
        return f"results for {query}"

    with pytest.raises(UnsafeContentError):
        lc_guard_tool(search, _guard()).invoke({"query": UNSAFE})
    shadowed = lc_guard_tool(search, _guard(), on_unsafe="refuse", shadow=True)
    assert shadowed.invoke({"query": UNSAFE}) == search.invoke({"query": UNSAFE})


def test_document_filter() -> None:
    docs = [LCDocument(page_content="Bread needs flour."), LCDocument(page_content=UNSAFE)]
    assert len(LlamaGuardDocumentFilter(_guard()).transform_documents(docs)) == 1
    kept = LlamaGuardDocumentFilter(_guard(), shadow=True).transform_documents(docs)
    assert [d.page_content for d in kept] == [d.page_content for d in docs]


def test_callback_handler() -> None:
    model = ScriptedChatModel(responses=[say("Volcanoes are mountains.")])
    with pytest.raises(UnsafeContentError):
        model.invoke(UNSAFE, {"callbacks": [LlamaGuardCallbackHandler(_guard())]})
    handler = LlamaGuardCallbackHandler(_guard(), shadow=True)
    assert model.invoke(UNSAFE, {"callbacks": [handler]}).text == "Volcanoes are mountains."
    assert model.calls == 1  # the shadowed run reached the model


def _nodes() -> list[NodeWithScore]:
    return [NodeWithScore(node=TextNode(text=t), score=1.0) for t in ("Bread needs flour.", UNSAFE)]


def test_node_postprocessor_and_transform() -> None:
    assert len(LlamaGuardNodePostprocessor(_guard()).postprocess_nodes(_nodes())) == 1
    kept = LlamaGuardNodePostprocessor(_guard(), shadow=True).postprocess_nodes(_nodes())
    assert [n.node.get_content() for n in kept] == [n.node.get_content() for n in _nodes()]
    texts = [TextNode(text="Bread needs flour."), TextNode(text=UNSAFE)]
    assert len(LlamaGuardTransform(_guard())(texts)) == 1
    assert len(LlamaGuardTransform(_guard(), shadow=True)(texts)) == 2


def test_llamaindex_tool() -> None:
    def search(query: str) -> str:
        """Search the web."""
        return f"results for {query}"

    plain = FunctionTool.from_defaults(fn=search)
    enforced = li_guard_tool(plain, _guard())
    shadowed = li_guard_tool(plain, _guard(), on_unsafe="refuse", shadow=True)
    assert isinstance(enforced, FunctionTool) and isinstance(shadowed, FunctionTool)
    with pytest.raises(UnsafeContentError):
        enforced.call(query=UNSAFE)
    assert str(shadowed.call(query=UNSAFE)) == str(plain.call(query=UNSAFE))


class Echo(GuardedWorkflow):
    @step
    async def answer(self, ev: SafeInputEvent) -> StopEvent:
        return await self.checked_stop(ev.input, f"echo: {ev.input}")


async def test_guarded_workflow() -> None:
    with pytest.raises(UnsafeContentError):
        await Echo(guard=_guard(), timeout=10).run(query=UNSAFE)
    result = await Echo(guard=_guard(), on_unsafe="refuse", shadow=True, timeout=10).run(
        query=UNSAFE
    )
    assert result == f"echo: {UNSAFE}"


def test_agent_middleware_streams_tokens_as_unguarded_in_shadow() -> None:
    answer = "Here is how to build a bomb: mix the explosives slowly."

    def streamed(middleware: list[Any]) -> list[str]:
        model = ScriptedChatModel(responses=[say(answer)])
        agent = create_agent(model, tools=[], middleware=middleware)
        request: InputAgentState = {"messages": [{"role": "user", "content": "hi"}]}
        texts: list[str] = []
        for chunk, _ in agent.stream(request, stream_mode="messages"):
            assert isinstance(chunk, BaseMessage)
            texts.append(chunk.text)
        return texts

    plain = streamed([])
    assert "bomb" in "".join(plain)
    enforced = streamed([LlamaGuardMiddleware(_guard(), on_unsafe="end")])
    assert "bomb" not in "".join(enforced)  # held back, then refused
    assert streamed([LlamaGuardMiddleware(_guard(), on_unsafe="end", shadow=True)]) == plain


async def test_guard_runnable_events_in_shadow_show_the_inner_tokens_as_unguarded() -> None:
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_llamashield import guard_runnable
    from langchain_llamashield.testing import ScriptedChatModel

    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | ScriptedChatModel(
        answer="Step one: get explosives for the bomb."
    )

    async def tokens(runnable: Any) -> list[str]:
        return [
            str(event["data"]["chunk"].content)
            async for event in runnable.astream_events({"q": "hi"}, version="v2")
            if event["event"] == "on_chat_model_stream"
        ]

    plain = await tokens(chain)
    assert "".join(plain).count("bomb") == 1
    enforced = guard_runnable(chain, _guard(), on_unsafe="refuse")
    assert "bomb" not in "".join(await tokens(enforced))  # the inner run is kept from events
    shadowed = guard_runnable(chain, _guard(), on_unsafe="refuse", shadow=True)
    assert await tokens(shadowed) == plain
