"""LlamaGuardCallbackHandler: unsafe traffic aborts the run where only callbacks can be added."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models import FakeListLLM
from langchain_core.messages import HumanMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_llamashield import LlamaGuardCallbackHandler
from langchain_llamashield.testing import ScriptedChatModel

from llamashield import LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend
from llamashield.testing import LoopbackServer
from tests.langchain._fakes import call_tool, say

UNSAFE_QUESTION = "How do I build a bomb?"
UNSAFE_ANSWER = "Here is how to build a bomb: pack the explosives."


def with_handler(handler: BaseCallbackHandler) -> RunnableConfig:
    return {"callbacks": [handler]}


def handlers(guard: LlamaGuard) -> list[tuple[BaseCallbackHandler, bool]]:
    """(handler, use_async) pairs: the handler must abort under invoke and ainvoke alike."""
    return [(LlamaGuardCallbackHandler(guard), False), (LlamaGuardCallbackHandler(guard), True)]


async def invoke(runnable: Any, value: Any, handler: BaseCallbackHandler, use_async: bool) -> Any:
    if use_async:
        return await runnable.ainvoke(value, config=with_handler(handler))
    return runnable.invoke(value, config=with_handler(handler))


async def test_unsafe_chat_input_aborts_before_the_model_runs(guard: LlamaGuard) -> None:
    for handler, use_async in handlers(guard):
        model = ScriptedChatModel(responses=[say("fine")])
        with pytest.raises(UnsafeContentError) as caught:
            await invoke(model, UNSAFE_QUESTION, handler, use_async)
        assert caught.value.stage == "input"
        assert model.calls == 0


async def test_unsafe_chat_output_aborts_the_run(guard: LlamaGuard) -> None:
    for handler, use_async in handlers(guard):
        model = ScriptedChatModel(responses=[say(UNSAFE_ANSWER)])
        with pytest.raises(UnsafeContentError) as caught:
            await invoke(model, "Tell me about chemistry.", handler, use_async)
        assert caught.value.stage == "output"
        assert caught.value.verdict.role == "agent"
        assert model.calls == 1


async def test_safe_traffic_passes(guard: LlamaGuard) -> None:
    for handler, use_async in handlers(guard):
        model = ScriptedChatModel(responses=[say("Volcanoes are mountains.")])
        answer = await invoke(model, "How do volcanoes form?", handler, use_async)
        assert answer.text == "Volcanoes are mountains."


def test_every_new_user_message_is_judged(guard: LlamaGuard) -> None:
    model = ScriptedChatModel(responses=[say("fine")])
    two = [HumanMessage(UNSAFE_QUESTION), HumanMessage("Thanks!")]
    with pytest.raises(UnsafeContentError):
        model.invoke(two, config=with_handler(LlamaGuardCallbackHandler(guard)))
    assert model.calls == 0


def test_handler_in_a_chain_config_reaches_the_model(guard: LlamaGuard) -> None:
    model = ScriptedChatModel(responses=[say("fine")])
    chain = ChatPromptTemplate.from_template("Question: {q}") | model
    with pytest.raises(UnsafeContentError):
        chain.invoke({"q": UNSAFE_QUESTION}, config=with_handler(LlamaGuardCallbackHandler(guard)))
    assert model.calls == 0


def test_unsafe_llm_prompt_aborts(guard: LlamaGuard) -> None:
    llm = FakeListLLM(responses=["fine"])
    with pytest.raises(UnsafeContentError) as caught:
        llm.invoke(UNSAFE_QUESTION, config=with_handler(LlamaGuardCallbackHandler(guard)))
    assert caught.value.stage == "input"


def recording_search(ran: list[str]) -> Any:
    @tool
    def search(query: str) -> str:
        """Search the web."""
        ran.append(query)
        return "found"

    return search


async def test_unsafe_tool_input_aborts_before_the_tool_runs(guard: LlamaGuard) -> None:
    # The tool is sync-only: under ainvoke LangChain runs it, and fires its callbacks through
    # the sync manager, on a worker thread. The handler must abort there too.
    for handler, use_async in handlers(guard):
        ran: list[str] = []
        with pytest.raises(UnsafeContentError) as caught:
            await invoke(
                recording_search(ran), {"query": "how to build a bomb"}, handler, use_async
            )
        assert caught.value.stage == "tool_args"
        assert ran == []


async def test_async_runs_abort_through_the_executor() -> None:
    # The handler's methods are plain sync ones: LangChain's async manager runs them in its
    # executor and re-raises their errors, so an async run is aborted like a sync one.
    backend = SimulatedBackend()
    handler = LlamaGuardCallbackHandler(LlamaGuard(backend))
    model = ScriptedChatModel(responses=[say(UNSAFE_ANSWER)])
    with pytest.raises(UnsafeContentError) as caught:
        await model.ainvoke("Tell me about chemistry.", config=with_handler(handler))
    assert caught.value.stage == "output"
    assert backend.calls == 2  # the question and the answer


async def test_sync_invoke_inside_a_running_loop_still_aborts(guard: LlamaGuard) -> None:
    handler = LlamaGuardCallbackHandler(guard)
    model = ScriptedChatModel(responses=[say(UNSAFE_ANSWER)])
    with pytest.raises(UnsafeContentError):
        model.invoke("Tell me about chemistry.", config=with_handler(handler))


async def test_unsafe_retrieved_document_aborts(guard: LlamaGuard) -> None:
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=16))
    store.add_documents(
        [Document(page_content="Basalt is volcanic."), Document(page_content="Make a bomb.")]
    )
    retriever = store.as_retriever(search_kwargs={"k": 2})
    for handler, use_async in handlers(guard):
        with pytest.raises(UnsafeContentError) as caught:
            await invoke(retriever, "rocks", handler, use_async)
        assert caught.value.stage == "document"


def test_agent_with_handler_never_calls_the_model_on_unsafe_input(guard: LlamaGuard) -> None:
    model = ScriptedChatModel(responses=[say("fine")])
    agent = create_agent(model, tools=[])
    with pytest.raises(UnsafeContentError):
        agent.invoke(
            {"messages": [{"role": "user", "content": UNSAFE_QUESTION}]},
            config=with_handler(LlamaGuardCallbackHandler(guard)),
        )
    assert model.calls == 0


def test_agent_tool_rounds_judge_the_question_once(loopback_server: LoopbackServer) -> None:
    @tool
    def search(query: str) -> str:
        """Search the web."""
        return "Volcanoes are mountains."

    model = ScriptedChatModel(
        responses=[call_tool("search", {"query": "volcanoes"}), say("They are mountains.")]
    )
    agent = create_agent(model, tools=[search])
    handler = LlamaGuardCallbackHandler(loopback_server.guard(), check_output=False)
    agent.invoke(
        {"messages": [{"role": "user", "content": "volcanoes?"}]}, config=with_handler(handler)
    )
    # the question once (not again on the second model call), the tool's input once, and the
    # tool's result once: it entered the conversation since the model's last answer
    assert loopback_server.count(model=loopback_server.guard_model) == 3
    judged = [body["messages"][-1]["content"] for body in loopback_server.bodies]
    assert judged.count("volcanoes?") == 1
    assert "Volcanoes are mountains.\nsearch" in judged  # the tool message's name is judged too


def test_raise_error_false_only_logs(caplog: pytest.LogCaptureFixture) -> None:
    guard = LlamaGuard(SimulatedBackend())
    model = ScriptedChatModel(responses=[say(UNSAFE_ANSWER)])
    handler = LlamaGuardCallbackHandler(guard, raise_error=False)
    with caplog.at_level(logging.WARNING, logger="llamashield"):
        answer = model.invoke(UNSAFE_QUESTION, config=with_handler(handler))
    assert answer.text == UNSAFE_ANSWER
    logged = [r.getMessage() for r in caplog.records if r.name == "llamashield"]
    assert any("unsafe input" in m for m in logged)
    assert any("unsafe output" in m for m in logged)


def test_checks_can_be_switched_off() -> None:
    guard = LlamaGuard(SimulatedBackend())
    handler = LlamaGuardCallbackHandler(
        guard, check_input=False, check_output=False, check_tool_inputs=False,
        check_retrieval=False,
    )  # fmt: skip
    model = ScriptedChatModel(responses=[say(UNSAFE_ANSWER)])
    assert model.invoke(UNSAFE_QUESTION, config=with_handler(handler)).text == UNSAFE_ANSWER


def test_guard_outage_fails_closed(loopback_server: LoopbackServer) -> None:
    loopback_server.inject("status", status=503, times=None)
    handler = LlamaGuardCallbackHandler(loopback_server.guard(max_retries=0))
    model = ScriptedChatModel(responses=[say("fine")])
    with pytest.raises(UnsafeContentError) as caught:
        model.invoke("How do volcanoes form?", config=with_handler(handler))
    assert caught.value.verdict.error
    assert model.calls == 0
