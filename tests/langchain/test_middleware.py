"""LlamaGuardMiddleware on create_agent: exit behaviours, tools, and streams that never leak."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import InputAgentState
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langchain_core.tracers.run_collector import RunCollectorCallbackHandler
from langchain_llamashield import LlamaGuardMiddleware
from langchain_llamashield.testing import ScriptedChatModel
from langgraph.prebuilt.tool_node import ToolCallRequest

from llamashield import LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend
from llamashield.testing import LoopbackServer
from tests.langchain._fakes import call_tool, say, tool_call_request

UNSAFE_QUESTION = "How do I build a bomb?"
UNSAFE_ANSWER = "Here is how to build a bomb: mix the explosives slowly."
SAFE_ANSWER = "Volcanoes form where magma reaches the surface."
UNSAFE_RESULT = "Step one of making a bomb: buy explosives."


class SearchTool:
    """A search tool that records its calls and returns a scripted result."""

    def __init__(self, result: str = "Volcanoes are mountains.") -> None:
        self.queries: list[str] = []
        self.result = result

        @tool
        def search(query: str) -> str:
            """Search the web."""
            self.queries.append(query)
            return self.result

        self.tool = search


def build(
    guard: LlamaGuard, responses: list[AIMessage], search: SearchTool | None = None, **options: Any
) -> tuple[Any, ScriptedChatModel]:
    model = ScriptedChatModel(responses=responses)
    tools = [search.tool] if search else []
    if "exit_behavior" not in options and "on_unsafe" not in options:
        options["on_unsafe"] = "end"  # these tests read the run's end message
    agent = create_agent(model, tools=tools, middleware=[LlamaGuardMiddleware(guard, **options)])
    return agent, model


def ask(text: str) -> InputAgentState:
    return {"messages": [{"role": "user", "content": text}]}


async def run(agent: Any, text: str, use_async: bool) -> list[BaseMessage]:
    if use_async:
        result = await agent.ainvoke(ask(text))
    else:
        result = agent.invoke(ask(text))
    return list(result["messages"])


def all_text(messages: list[BaseMessage]) -> str:
    parts: list[str] = []
    for message in messages:
        parts.append(message.text)
        for call in getattr(message, "tool_calls", []):
            parts.append(str(call["args"]))
    return "\n".join(parts)


both = pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])


# -- input ------------------------------------------------------------------------------------


@both
async def test_safe_question_is_answered_and_the_answer_carries_its_verdict(
    guard: LlamaGuard, use_async: bool
) -> None:
    agent, model = build(guard, [say(SAFE_ANSWER)])
    messages = await run(agent, "How do volcanoes form?", use_async)
    assert model.calls == 1
    assert messages[-1].text == SAFE_ANSWER
    marker = messages[-1].response_metadata["llamashield"]
    assert marker["safe"] is True and marker["stage"] == "output" and marker["role"] == "agent"


@both
async def test_unsafe_input_end_never_calls_the_model(guard: LlamaGuard, use_async: bool) -> None:
    agent, model = build(guard, [say(SAFE_ANSWER)], exit_behavior="end")
    messages = await run(agent, UNSAFE_QUESTION, use_async)
    assert model.calls == 0
    assert isinstance(messages[-1], AIMessage)
    assert "Indiscriminate Weapons" in messages[-1].text
    assert messages[-1].response_metadata["llamashield"]["stage"] == "input"


@both
async def test_unsafe_input_error_raises_before_the_model(
    guard: LlamaGuard, use_async: bool
) -> None:
    agent, model = build(guard, [say(SAFE_ANSWER)], exit_behavior="error")
    with pytest.raises(UnsafeContentError) as caught:
        await run(agent, UNSAFE_QUESTION, use_async)
    assert caught.value.stage == "input"
    assert caught.value.verdict.codes == ("S8",)
    assert model.calls == 0


@both
async def test_unsafe_input_replace_hands_the_model_the_violation_message(
    guard: LlamaGuard, use_async: bool
) -> None:
    agent, model = build(guard, [say("I cannot help with that.")], exit_behavior="replace")
    messages = await run(agent, UNSAFE_QUESTION, use_async)
    assert model.calls == 1
    seen = all_text(model.seen[0])
    assert "bomb" not in seen and "flagged for Indiscriminate Weapons" in seen
    humans = [m for m in messages if isinstance(m, HumanMessage)]
    assert len(humans) == 1 and "bomb" not in humans[0].text


@both
async def test_every_new_user_message_is_judged(guard: LlamaGuard, use_async: bool) -> None:
    two = {"messages": [HumanMessage(UNSAFE_QUESTION), HumanMessage("Thanks in advance!")]}
    agent, model = build(guard, [say(SAFE_ANSWER)], exit_behavior="end")
    result = await agent.ainvoke(two) if use_async else agent.invoke(two)
    assert model.calls == 0
    assert result["messages"][-1].response_metadata["llamashield"]["stage"] == "input"


def test_replace_with_several_new_user_messages_keeps_one_violation(guard: LlamaGuard) -> None:
    two = {"messages": [HumanMessage(UNSAFE_QUESTION), HumanMessage("Thanks in advance!")]}
    agent, model = build(guard, [say("I cannot help.")], exit_behavior="replace")
    messages = agent.invoke(two)["messages"]
    humans = [m for m in messages if isinstance(m, HumanMessage)]
    assert len(humans) == 1 and "Indiscriminate Weapons" in humans[0].text
    assert "bomb" not in all_text(model.seen[0])


def test_conversation_goes_on_after_a_blocked_turn(guard: LlamaGuard) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    model = ScriptedChatModel(responses=[say(SAFE_ANSWER)])
    agent = create_agent(
        model,
        tools=[],
        middleware=[LlamaGuardMiddleware(guard, on_unsafe="end")],
        checkpointer=InMemorySaver(),
    )
    thread: RunnableConfig = {"configurable": {"thread_id": "t1"}}
    blocked = agent.invoke(ask(UNSAFE_QUESTION), thread)["messages"]
    assert model.calls == 0 and "Indiscriminate Weapons" in blocked[-1].text
    answered = agent.invoke(ask("How do volcanoes form?"), thread)["messages"]
    assert model.calls == 1 and answered[-1].text == SAFE_ANSWER


def test_custom_refusal(guard: LlamaGuard) -> None:
    agent, _ = build(guard, [say(SAFE_ANSWER)], refusal="Blocked [{codes}] at {stage}.")
    messages = agent.invoke(ask(UNSAFE_QUESTION))["messages"]
    assert messages[-1].text == "Blocked [S8] at input."


# -- output -----------------------------------------------------------------------------------


@both
async def test_unsafe_answer_end_replaces_it_so_it_never_enters_the_state(
    guard: LlamaGuard, use_async: bool
) -> None:
    agent, model = build(guard, [say(UNSAFE_ANSWER)], exit_behavior="end")
    messages = await run(agent, "Tell me about chemistry.", use_async)
    assert model.calls == 1
    assert "bomb" not in all_text(messages)
    assert messages[-1].response_metadata["llamashield"]["stage"] == "output"
    assert "Indiscriminate Weapons" in messages[-1].text


@both
async def test_unsafe_answer_error_raises(guard: LlamaGuard, use_async: bool) -> None:
    agent, _ = build(guard, [say(UNSAFE_ANSWER)], exit_behavior="error")
    with pytest.raises(UnsafeContentError) as caught:
        await run(agent, "Tell me about chemistry.", use_async)
    assert caught.value.stage == "output"
    assert caught.value.verdict.role == "agent"


@both
async def test_unsafe_answer_replace_keeps_the_message_with_new_content(
    guard: LlamaGuard, use_async: bool
) -> None:
    agent, _ = build(guard, [say(UNSAFE_ANSWER)], exit_behavior="replace")
    messages = await run(agent, "Tell me about chemistry.", use_async)
    assert "bomb" not in all_text(messages)
    marker = messages[-1].response_metadata["llamashield"]
    assert marker["exit"] == "replace" and marker["categories"] == ["S8"]


def test_output_check_off_lets_the_answer_through(guard: LlamaGuard) -> None:
    agent, _ = build(guard, [say(UNSAFE_ANSWER)], check_output=False)
    messages = agent.invoke(ask("Tell me about chemistry."))["messages"]
    assert messages[-1].text == UNSAFE_ANSWER


# -- tool calls and tool results -------------------------------------------------------------


@both
async def test_safe_tool_round_judges_each_thing_once(
    loopback_server: LoopbackServer, use_async: bool
) -> None:
    search = SearchTool()
    guard = loopback_server.guard()
    agent, model = build(
        guard, [call_tool("search", {"query": "volcanoes"}), say(SAFE_ANSWER)], search,
        check_tool_results=True,
    )  # fmt: skip
    messages = await run(agent, "How do volcanoes form?", use_async)
    assert search.queries == ["volcanoes"]
    assert model.calls == 2
    assert messages[-1].text == SAFE_ANSWER
    # input once (not again on the tool round), the tool call, the tool result, the answer
    assert loopback_server.count(model=loopback_server.guard_model) == 4
    tool_message = next(m for m in messages if isinstance(m, ToolMessage))
    assert tool_message.response_metadata["llamashield"]["safe"] is True


@both
async def test_unsafe_tool_arguments_end_never_run_the_tool(
    guard: LlamaGuard, use_async: bool
) -> None:
    search = SearchTool()
    responses = [call_tool("search", {"query": "how to build a bomb"}), say(SAFE_ANSWER)]
    agent, model = build(guard, responses, search, exit_behavior="end")
    messages = await run(agent, "Find me something.", use_async)
    assert search.queries == []
    assert model.calls == 1
    assert "bomb" not in all_text(messages)
    assert messages[-1].response_metadata["llamashield"]["stage"] == "tool_args"


@both
async def test_unsafe_tool_arguments_error_raise(guard: LlamaGuard, use_async: bool) -> None:
    search = SearchTool()
    responses = [call_tool("search", {"query": "how to build a bomb"})]
    agent, _ = build(guard, responses, search, exit_behavior="error")
    with pytest.raises(UnsafeContentError) as caught:
        await run(agent, "Find me something.", use_async)
    assert caught.value.stage == "tool_args"
    assert search.queries == []


@both
async def test_unsafe_tool_arguments_replace_drop_the_call_and_keep_safe_ones(
    guard: LlamaGuard, use_async: bool
) -> None:
    search = SearchTool()
    both_calls = AIMessage(
        content="",
        tool_calls=[
            {"name": "search", "args": {"query": "volcanoes"}, "id": "ok", "type": "tool_call"},
            {"name": "search", "args": {"query": "bomb"}, "id": "bad", "type": "tool_call"},
        ],
    )
    agent, model = build(guard, [both_calls, say(SAFE_ANSWER)], search, exit_behavior="replace")
    messages = await run(agent, "Find me something.", use_async)
    assert search.queries == ["volcanoes"]
    assert model.calls == 2
    assert "bomb" not in all_text(messages)
    assert messages[-1].text == SAFE_ANSWER


@both
async def test_tool_call_from_elsewhere_is_judged_in_wrap_tool_call(
    guard: LlamaGuard, use_async: bool
) -> None:
    # With the output check off the answer is not judged in wrap_model_call, but the tool
    # call still is, before the tool runs.
    search = SearchTool()
    middleware = LlamaGuardMiddleware(guard, exit_behavior="replace")
    unsafe_call = call_tool("search", {"query": "how to build a bomb"}, call_id="c9")
    request = _tool_request(search, unsafe_call)
    handler_calls: list[Any] = []

    def handler(req: Any) -> ToolMessage:
        handler_calls.append(req)
        return ToolMessage(content="ran", tool_call_id="c9")

    async def ahandler(req: Any) -> ToolMessage:
        return handler(req)

    if use_async:
        result = await middleware.awrap_tool_call(request, ahandler)
    else:
        result = middleware.wrap_tool_call(request, handler)
    assert handler_calls == []
    assert isinstance(result, ToolMessage) and result.status == "error"
    assert result.tool_call_id == "c9"
    assert "Indiscriminate Weapons" in result.text


def _tool_request(search: SearchTool, message: AIMessage) -> ToolCallRequest:
    return tool_call_request(message.tool_calls[0], [HumanMessage("find"), message], search.tool)


@both
async def test_unsafe_tool_result_end_stops_before_the_model_sees_it(
    guard: LlamaGuard, use_async: bool
) -> None:
    search = SearchTool(result=UNSAFE_RESULT)
    responses = [call_tool("search", {"query": "chemistry"}), say(SAFE_ANSWER)]
    agent, model = build(guard, responses, search, check_tool_results=True, exit_behavior="end")
    messages = await run(agent, "Find me something.", use_async)
    assert search.queries == ["chemistry"]
    assert model.calls == 1
    assert "bomb" not in all_text(messages)
    assert messages[-1].response_metadata["llamashield"]["stage"] == "tool_result"


@both
async def test_unsafe_tool_result_replace_lets_the_model_carry_on(
    guard: LlamaGuard, use_async: bool
) -> None:
    search = SearchTool(result=UNSAFE_RESULT)
    responses = [call_tool("search", {"query": "chemistry"}), say(SAFE_ANSWER)]
    agent, model = build(guard, responses, search, check_tool_results=True, exit_behavior="replace")
    messages = await run(agent, "Find me something.", use_async)
    assert model.calls == 2
    assert "bomb" not in all_text(model.seen[1])
    assert messages[-1].text == SAFE_ANSWER


@both
async def test_unsafe_tool_result_error_raises(guard: LlamaGuard, use_async: bool) -> None:
    search = SearchTool(result=UNSAFE_RESULT)
    responses = [call_tool("search", {"query": "chemistry"})]
    agent, _ = build(guard, responses, search, check_tool_results=True, exit_behavior="error")
    with pytest.raises(UnsafeContentError) as caught:
        await run(agent, "Find me something.", use_async)
    assert caught.value.stage == "tool_result"


def test_tool_results_are_checked_by_default(guard: LlamaGuard) -> None:
    search = SearchTool(result=UNSAFE_RESULT)
    responses = [call_tool("search", {"query": "chemistry"}), say(SAFE_ANSWER)]
    agent, model = build(guard, responses, search)
    result = agent.invoke(ask("Find me something."))
    assert model.calls == 1  # the run ended at the blocked result: the model never read it
    assert all(UNSAFE_RESULT not in all_text([m]) for m in result["messages"])


def test_tool_results_unchecked_when_switched_off(guard: LlamaGuard) -> None:
    search = SearchTool(result=UNSAFE_RESULT)
    responses = [call_tool("search", {"query": "chemistry"}), say(SAFE_ANSWER)]
    agent, model = build(guard, responses, search, check_tool_results=False)
    agent.invoke(ask("Find me something."))
    assert UNSAFE_RESULT in all_text(model.seen[1])


# -- streaming --------------------------------------------------------------------------------


def _streamed_text(agent: Any, text: str) -> str:
    return "".join(chunk.text for chunk, _ in agent.stream(ask(text), stream_mode="messages"))


async def _astreamed_text(agent: Any, text: str) -> str:
    parts = [chunk.text async for chunk, _ in agent.astream(ask(text), stream_mode="messages")]
    return "".join(parts)


@both
async def test_unguarded_stream_leaks_the_unsafe_tokens(use_async: bool) -> None:
    # The control: without the hold-back the fake's tokens do reach the messages stream.
    model = ScriptedChatModel(responses=[say(UNSAFE_ANSWER)])
    agent = create_agent(model, tools=[])
    streamed = await _astreamed_text(agent, "hi") if use_async else _streamed_text(agent, "hi")
    assert "bomb" in streamed


@both
async def test_streamed_unsafe_answer_never_yields_its_words(
    guard: LlamaGuard, use_async: bool
) -> None:
    agent, _ = build(guard, [say(UNSAFE_ANSWER)])
    streamed = await _astreamed_text(agent, "hi") if use_async else _streamed_text(agent, "hi")
    assert "bomb" not in streamed and "explosives" not in streamed
    assert "Indiscriminate Weapons" in streamed


@both
async def test_streamed_safe_answer_arrives_once_judged(guard: LlamaGuard, use_async: bool) -> None:
    agent, _ = build(guard, [say(SAFE_ANSWER)])
    streamed = await _astreamed_text(agent, "hi") if use_async else _streamed_text(agent, "hi")
    assert streamed == SAFE_ANSWER


def test_streamed_unsafe_tool_call_never_shows_its_arguments(guard: LlamaGuard) -> None:
    search = SearchTool()
    agent, _ = build(guard, [call_tool("search", {"query": "build a bomb"})], search)
    chunks = [chunk for chunk, _ in agent.stream(ask("find"), stream_mode="messages")]
    assert "bomb" not in all_text(chunks)
    assert search.queries == []


def test_streamed_updates_hold_no_unsafe_text(guard: LlamaGuard) -> None:
    agent, _ = build(guard, [say(UNSAFE_ANSWER)])
    updates = list(agent.stream(ask("hi"), stream_mode="updates"))
    assert updates and "bomb" not in repr(updates)


async def test_astream_events_carry_no_unsafe_text(guard: LlamaGuard) -> None:
    agent, _ = build(guard, [say(UNSAFE_ANSWER)])
    events = [e async for e in agent.astream_events(ask("hi"), version="v2")]
    assert events and "bomb" not in repr(events)
    unguarded = create_agent(ScriptedChatModel(responses=[say(UNSAFE_ANSWER)]), tools=[])
    control = [e async for e in unguarded.astream_events(ask("hi"), version="v2")]
    assert "bomb" in repr(control)


def test_token_handlers_get_no_unjudged_tokens_but_tracers_keep_the_model_run(
    guard: LlamaGuard,
) -> None:
    tokens: list[str] = []

    class Tokens(BaseCallbackHandler):
        def on_llm_new_token(self, token: str | list[str | dict[str, Any]], **kwargs: Any) -> None:
            assert isinstance(token, str)  # the fake model streams text
            tokens.append(token)

    collector = RunCollectorCallbackHandler()
    agent, _ = build(guard, [say(UNSAFE_ANSWER)])
    config: RunnableConfig = {"callbacks": [Tokens(), collector]}
    streamed = [chunk for chunk, _ in agent.stream(ask("hi"), config, stream_mode="messages")]
    assert "bomb" not in "".join(tokens) and "bomb" not in all_text(streamed)
    runs = list(_walk(collector.traced_runs))
    model_runs = [r for r in runs if r.run_type == "llm"]
    assert model_runs and "bomb" in repr(model_runs[0].outputs)


def _walk(runs: list[Any]) -> Any:
    for run in runs:
        yield run
        yield from _walk(run.child_runs)


# -- failures and options ---------------------------------------------------------------------


def test_guard_outage_fails_closed(loopback_server: LoopbackServer) -> None:
    loopback_server.inject("status", status=503, times=None)
    guard = loopback_server.guard(max_retries=0)
    agent, model = build(guard, [say(SAFE_ANSWER)])
    messages = agent.invoke(ask("How do volcanoes form?"))["messages"]
    assert model.calls == 0
    assert "a guard error" in messages[-1].text
    assert messages[-1].response_metadata["llamashield"]["error"]


def test_input_check_off_calls_the_model() -> None:
    guard = LlamaGuard(SimulatedBackend())
    agent, model = build(guard, [say(SAFE_ANSWER)], check_input=False)
    agent.invoke(ask(UNSAFE_QUESTION))
    assert model.calls == 1


def test_bad_exit_behavior_is_rejected() -> None:
    with pytest.raises(ValueError, match="on_unsafe must be"):
        LlamaGuardMiddleware(LlamaGuard(SimulatedBackend()), exit_behavior="ignore")  # type: ignore[arg-type]


def test_hooks_can_jump_to_end() -> None:
    for hook in ("before_model", "after_model", "abefore_model", "aafter_model"):
        assert getattr(LlamaGuardMiddleware, hook).__can_jump_to__ == ["end"]
