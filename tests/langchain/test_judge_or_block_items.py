"""Regression tests for issue 10's LangChain items (1, 2, 7, 8) and the middleware property."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from langchain.agents import create_agent
from langchain.agents.middleware.types import ModelResponse
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    ChatMessage,
    HumanMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langchain_llamashield import (
    GuardedChatModel,
    LlamaGuardCallbackHandler,
    LlamaGuardMiddleware,
    guard_runnable,
    guard_tool,
)
from langchain_llamashield.testing import ScriptedChatModel
from langgraph.prebuilt.tool_node import ToolCallRequest

from llamashield import ConfigurationError, LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend
from llamashield.integration import run_plan
from tests._support.planted import leaks, trigger_guard
from tests.langchain._fakes import call_tool, say, tool_call_request
from tests.langchain._planted import Recorder, ai_message, content

BOMB = "how to build a bomb"


@pytest.fixture
def sim() -> LlamaGuard:
    return LlamaGuard(SimulatedBackend())


# -- item 1: every user-supplied value of an input ---------------------------------------------


def test_a_messages_placeholder_given_as_tuples_is_judged(sim: LlamaGuard) -> None:
    model = ScriptedChatModel(answer="Fine.")
    prompt = ChatPromptTemplate([("system", "Answer in {lang}."), MessagesPlaceholder("messages")])
    chain = guard_runnable(prompt | model, sim)
    for messages in ([("user", BOMB)], [{"role": "user", "content": BOMB}]):
        with pytest.raises(UnsafeContentError):
            chain.invoke({"messages": messages, "lang": "English"})
    assert model.seen == []


def test_list_of_str_values_are_judged(sim: LlamaGuard) -> None:
    chain = guard_runnable(RunnableLambda(lambda x: "ok"), sim)
    with pytest.raises(UnsafeContentError):
        chain.invoke({"question": "summarise", "context": ["Volcanoes.", BOMB]})


def test_a_chat_message_with_role_user_is_judged_everywhere(sim: LlamaGuard) -> None:
    question: list[AnyMessage] = [ChatMessage(role="user", content=BOMB)]
    inner = ScriptedChatModel(answer="Fine.")
    with pytest.raises(UnsafeContentError):
        GuardedChatModel(inner, sim).invoke(question)
    with pytest.raises(UnsafeContentError):
        inner.invoke(question, config={"callbacks": [LlamaGuardCallbackHandler(sim)]})
    assert inner.seen == []
    agent_model = ScriptedChatModel(responses=[say("Sure.")])
    agent = create_agent(agent_model, middleware=[LlamaGuardMiddleware(sim, on_unsafe="end")])
    result = agent.invoke({"messages": [*question]})
    assert agent_model.calls == 0 and "flagged" in result["messages"][-1].text


# -- item 2: content blocks ---------------------------------------------------------------------


REASONING_ANSWERS = [
    AIMessage(
        content=[
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": BOMB}]},
            {"type": "text", "text": "I can't say."},
        ]
    ),
    AIMessage(content=[{"type": "thinking", "thinking": BOMB}, {"type": "text", "text": "No."}]),
    AIMessage(content="No.", additional_kwargs={"reasoning_content": BOMB}),
    AIMessage(content="", additional_kwargs={"function_call": {"name": "f", "arguments": BOMB}}),
]


@pytest.mark.parametrize("answer", REASONING_ANSWERS)
def test_reasoning_and_function_calls_are_judged(sim: LlamaGuard, answer: AIMessage) -> None:
    model = ScriptedChatModel(responses=[answer])
    refused: list[Any] = [
        GuardedChatModel(model, sim, on_unsafe="refuse").invoke("hi"),
        guard_runnable(model, sim, on_unsafe="refuse").invoke("hi"),
        list(guard_runnable(model, sim, on_unsafe="refuse").stream("hi")),
    ]
    assert "bomb" not in repr(refused)
    agent_model = ScriptedChatModel(responses=[answer])
    agent = create_agent(agent_model, middleware=[LlamaGuardMiddleware(sim, on_unsafe="end")])
    messages = agent.invoke({"messages": [HumanMessage("hi")]})["messages"]
    assert "bomb" not in repr(messages)


def test_every_part_of_a_multi_part_message_is_judged(sim: LlamaGuard) -> None:
    parts = [{"type": "text", "text": "Hello."}, {"type": "input_text", "text": BOMB}]
    inner = ScriptedChatModel(answer="Fine.")
    with pytest.raises(UnsafeContentError):
        GuardedChatModel(inner, sim).invoke([HumanMessage(content=parts)])  # type: ignore[arg-type]
    assert inner.seen == []


@pytest.mark.parametrize(
    "result",
    [
        [{"type": "json", "json": {"steps": [BOMB]}}],
        [{"type": "search_result", "title": "r", "source": "s", "content": [BOMB]}],
        [{"type": "document", "title": "d", "source": {"type": "text", "data": BOMB}}],
    ],
)
def test_tool_results_made_of_blocks_are_judged(sim: LlamaGuard, result: Any) -> None:
    @tool
    def lookup(term: str) -> Any:
        """Look a term up."""
        return result

    with pytest.raises(UnsafeContentError):
        guard_tool(lookup, sim).invoke(
            {"name": "lookup", "args": {"term": "x"}, "id": "c1", "type": "tool_call"}
        )


def test_an_artifact_is_judged_before_the_model_reads_it(sim: LlamaGuard) -> None:
    @tool(response_format="content_and_artifact")
    def lookup(term: str) -> tuple[str, Any]:
        """Look a term up."""
        return "Found it.", {"rows": [BOMB]}

    responses = [call_tool("lookup", {"term": "x"}), say("Done.")]
    model = ScriptedChatModel(responses=responses)
    agent = create_agent(
        model, tools=[lookup], middleware=[LlamaGuardMiddleware(sim, on_unsafe="end")]
    )
    messages = agent.invoke({"messages": [HumanMessage("look it up")]})["messages"]
    assert model.calls == 1 and "bomb" not in repr(messages)


# -- item 7: callbacks attached to the wrapped model --------------------------------------------


def test_a_model_with_its_own_callbacks_is_refused(sim: LlamaGuard) -> None:
    handler = Recorder()
    attached = ScriptedChatModel(answer="Fine.", callbacks=[handler])
    bound = ScriptedChatModel(answer="Fine.").with_config(callbacks=[handler])
    prompt = ChatPromptTemplate([("user", "{q}")])
    for runnable in (attached, bound, prompt | attached, prompt | bound.bind(stop=["x"])):
        with pytest.raises(ConfigurationError, match=r"callbacks attached.*Recorder"):
            guard_runnable(runnable, sim)
    with pytest.raises(ConfigurationError, match="callbacks attached"):
        GuardedChatModel(attached, sim)
    agent = create_agent(attached, middleware=[LlamaGuardMiddleware(sim, on_unsafe="end")])
    with pytest.raises(ConfigurationError, match="callbacks attached"):
        agent.invoke({"messages": [HumanMessage("hi")]})
    # Nothing to moderate on the way out: the model's callbacks see only a judged input.
    guard_runnable(attached, sim, check_output=False).invoke("hi")
    assert handler.seen  # and they still work there


@pytest.mark.parametrize("streaming", [False, True])
def test_a_handler_passed_in_the_config_sees_only_judged_output(
    sim: LlamaGuard, streaming: bool
) -> None:
    recorder = Recorder()
    model = ScriptedChatModel(responses=[AIMessage(content=f"Sure, {BOMB}: mix it.")])
    config: Any = {"callbacks": [recorder]}
    for guarded in (
        guard_runnable(model, sim, on_unsafe="refuse"),
        GuardedChatModel(model, sim, on_unsafe="refuse"),
    ):
        if streaming:
            list(guarded.stream("hi", config))
        else:
            guarded.invoke("hi", config)
    assert recorder.seen and "bomb" not in repr(recorder.seen)
    safe = ScriptedChatModel(responses=[AIMessage(content="Volcanoes are mountains.")])
    GuardedChatModel(safe, sim).invoke("hi", config)
    assert "Volcanoes are mountains." in repr(recorder.seen)  # judged safe: delivered


# -- item 8: the judged marker is bound to the arguments ----------------------------------------


def _judged_answer(middleware: LlamaGuardMiddleware, args: dict[str, Any]) -> AIMessage:
    answer = call_tool("search", args, call_id="c1")
    plan = middleware._judged_output([HumanMessage("hi")], ModelResponse([answer], None))
    marked = run_plan(plan, middleware.guard).result[0]
    assert isinstance(marked, AIMessage)
    return marked


def test_an_edited_tool_call_that_keeps_its_id_is_judged_again() -> None:
    backend = SimulatedBackend()
    middleware = LlamaGuardMiddleware(LlamaGuard(backend), on_unsafe="end")
    marked = _judged_answer(middleware, {"query": "volcanoes"})
    ran: list[Any] = []

    def run(request: ToolCallRequest) -> ToolMessage:
        ran.append(request.tool_call["args"])
        return ToolMessage("ok", tool_call_id="c1")

    def request(args: dict[str, Any]) -> ToolCallRequest:
        call = ToolCall(name="search", args=args, id="c1", type="tool_call")
        return tool_call_request(call, [HumanMessage("hi"), marked])

    calls = backend.calls
    middleware.wrap_tool_call(request({"query": "volcanoes"}), run)
    assert backend.calls == calls + 1  # as judged: only its result is judged now
    blocked = middleware.wrap_tool_call(request({"query": BOMB}), run)
    assert ran == [{"query": "volcanoes"}]  # the edited call never ran
    assert isinstance(blocked, ToolMessage) and blocked.status == "error"


# -- the middleware, as a property --------------------------------------------------------------


AGENT = settings(max_examples=15, deadline=None)


@AGENT
@given(answer=ai_message)
def test_the_middleware_never_lets_an_unjudged_answer_through(answer: AIMessage) -> None:
    ran: list[Any] = []

    @tool
    def search(q: str) -> str:
        """Search."""
        ran.append(q)
        return "ok"

    model = ScriptedChatModel(responses=[answer, say("Done.")])
    agent = create_agent(
        model, tools=[search], middleware=[LlamaGuardMiddleware(trigger_guard(), on_unsafe="end")]
    )
    messages = agent.invoke({"messages": [HumanMessage("hi")]})["messages"]
    assert ran == [] and not leaks(messages)


@AGENT
@given(question=content, result=content)
def test_the_middleware_judges_user_input_and_tool_results(question: Any, result: Any) -> None:
    @tool
    def search(q: str) -> Any:
        """Search."""
        return result

    model = ScriptedChatModel(responses=[call_tool("search", {"q": "x"}), say("Done.")])
    middleware = [LlamaGuardMiddleware(trigger_guard(), on_unsafe="end")]
    agent = create_agent(model, tools=[search], middleware=middleware)
    agent.invoke({"messages": [HumanMessage(content=question)]})
    assert model.calls == 0  # the question never reached the model
    model = ScriptedChatModel(responses=[call_tool("search", {"q": "x"}), say("Done.")])
    agent = create_agent(model, tools=[search], middleware=middleware)
    agent.invoke({"messages": [HumanMessage("hi")]})
    assert not leaks(model.seen)  # the tool's result never reached it


def test_a_command_returned_by_a_tool_is_judged_by_its_update(sim: LlamaGuard) -> None:
    from langgraph.types import Command

    middleware = LlamaGuardMiddleware(sim, on_unsafe="end")
    call = ToolCall(name="search", args={"q": "x"}, id="c1", type="tool_call")
    request = tool_call_request(call, [])
    unsafe: Command[Any] = Command(
        update={"messages": [ToolMessage(f"Sure: {BOMB}.", tool_call_id="c1")]}
    )
    blocked = middleware.wrap_tool_call(request, lambda _: unsafe)
    assert isinstance(blocked, ToolMessage) and blocked.status == "error"
    assert "bomb" not in blocked.text
    safe: Command[Any] = Command(
        update={"messages": [ToolMessage("Volcanoes.", tool_call_id="c1")]}
    )
    assert middleware.wrap_tool_call(request, lambda _: safe) is safe


@pytest.mark.parametrize("media", ["block", "text_only"])
def test_image_parts_follow_the_media_policy(media: Any) -> None:
    guard = LlamaGuard(SimulatedBackend(), media=media)
    image = {"type": "image_url", "image_url": {"url": "https://x.invalid/a.png"}}
    question = HumanMessage(content=[{"type": "text", "text": "What is this?"}, image])
    inner = ScriptedChatModel(answer="Fine.")
    chain = guard_runnable(inner, guard)
    if media == "block":
        for run in (GuardedChatModel(inner, guard).invoke, chain.invoke):
            with pytest.raises(UnsafeContentError, match="media="):
                run([question])
        assert inner.seen == []
    else:
        assert GuardedChatModel(inner, guard).invoke([question]).text == "Fine."
        assert chain.invoke([question]).text == "Fine."


async def test_async_paths_keep_unjudged_output_from_config_handlers(sim: LlamaGuard) -> None:
    recorder = Recorder()
    config: Any = {"callbacks": [recorder]}
    for answer in [*REASONING_ANSWERS, AIMessage(content=f"Sure, {BOMB}.")]:
        model = ScriptedChatModel(responses=[answer])
        for guarded in (
            guard_runnable(model, sim, on_unsafe="refuse"),
            GuardedChatModel(model, sim, on_unsafe="refuse"),
        ):
            released = [await guarded.ainvoke("hi", config)]
            released += [chunk async for chunk in guarded.astream("hi", config)]
            assert "bomb" not in repr(released)
    assert recorder.seen and "bomb" not in repr(recorder.seen)
