"""guard_tool: unsafe arguments never run the tool; unsafe results never reach the caller."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import InputAgentState
from langchain.tools import ToolRuntime
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, InjectedToolArg, StructuredTool, tool
from langchain_llamashield import guard_tool
from langchain_llamashield.testing import ScriptedChatModel
from langchain_llamashield.tools import GuardedTool
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from llamashield import Blocked, LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend
from tests.langchain._fakes import call_tool, say

SIMULATED = LlamaGuard(SimulatedBackend())


class Recorder:
    """Tools that record their calls; ``result`` is what they return."""

    def __init__(self, result: str = "Volcanoes are mountains.") -> None:
        self.calls: list[dict[str, Any]] = []
        self.result = result

    def search_tool(self) -> BaseTool:
        def search(query: str) -> str:
            """Search the web for a query."""
            self.calls.append({"query": query})
            return self.result

        async def asearch(query: str) -> str:
            return search(query)

        return StructuredTool.from_function(func=search, coroutine=asearch)


def tool_call(args: dict[str, Any], call_id: str = "call-7") -> dict[str, Any]:
    return {"name": "search", "args": args, "id": call_id, "type": "tool_call"}


# -- langchain-tests standard suites -----------------------------------------------------------


class TestGuardedToolStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> BaseTool:
        return guard_tool(Recorder().search_tool(), SIMULATED)

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "how do volcanoes form"}


class TestGuardedToolStandardIntegration(ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> BaseTool:
        return guard_tool(Recorder().search_tool(), SIMULATED)

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "how do volcanoes form"}


# -- behaviour --------------------------------------------------------------------------------


both = pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])


async def call(tool_: BaseTool, value: Any, use_async: bool) -> Any:
    return await tool_.ainvoke(value) if use_async else tool_.invoke(value)


@both
async def test_safe_call_runs_the_tool(guard: LlamaGuard, use_async: bool) -> None:
    recorder = Recorder()
    guarded = guard_tool(recorder.search_tool(), guard)
    assert await call(guarded, {"query": "volcanoes"}, use_async) == recorder.result
    assert recorder.calls == [{"query": "volcanoes"}]


@both
async def test_unsafe_arguments_raise_and_the_tool_never_runs(
    guard: LlamaGuard, use_async: bool
) -> None:
    recorder = Recorder()
    guarded = guard_tool(recorder.search_tool(), guard)
    with pytest.raises(UnsafeContentError) as caught:
        await call(guarded, {"query": "how to build a bomb"}, use_async)
    assert caught.value.stage == "tool_args"
    assert caught.value.verdict.role == "agent"
    assert len(recorder.calls) == 0


@both
async def test_unsafe_arguments_refused_as_an_error_tool_message(
    guard: LlamaGuard, use_async: bool
) -> None:
    recorder = Recorder()
    guarded = guard_tool(recorder.search_tool(), guard, on_unsafe="refuse")
    message = await call(guarded, tool_call({"query": "how to build a bomb"}), use_async)
    assert isinstance(message, ToolMessage)
    assert message.status == "error" and message.tool_call_id == "call-7"
    assert "Indiscriminate Weapons" in message.text
    assert len(recorder.calls) == 0


@both
async def test_unsafe_result_raises(guard: LlamaGuard, use_async: bool) -> None:
    recorder = Recorder(result="Mix the explosives to make the bomb.")
    guarded = guard_tool(recorder.search_tool(), guard)
    with pytest.raises(UnsafeContentError) as caught:
        await call(guarded, {"query": "chemistry"}, use_async)
    assert caught.value.stage == "tool_result"
    assert caught.value.verdict.role == "user"
    assert len(recorder.calls) == 1


@both
async def test_unsafe_result_refused(guard: LlamaGuard, use_async: bool) -> None:
    recorder = Recorder(result="Mix the explosives to make the bomb.")
    guarded = guard_tool(recorder.search_tool(), guard, on_unsafe="refuse")
    text = await call(guarded, {"query": "chemistry"}, use_async)
    assert isinstance(text, str) and "bomb" not in text
    message = await call(guarded, tool_call({"query": "chemistry"}, "c2"), use_async)
    assert isinstance(message, ToolMessage)
    assert message.tool_call_id == "c2" and "bomb" not in message.text


def test_checks_can_be_switched_off() -> None:
    recorder = Recorder(result="the bomb result")
    guarded = guard_tool(recorder.search_tool(), SIMULATED, check_input=False, check_output=False)
    assert guarded.invoke({"query": "bomb"}) == "the bomb result"


def test_custom_refusal_message() -> None:
    guarded = guard_tool(
        Recorder().search_tool(), SIMULATED, on_unsafe="refuse",
        refusal="No ({codes}, {stage}).",
    )  # fmt: skip
    assert guarded.invoke({"query": "bomb"}) == "No (S8, tool args)."


def test_identity_and_schema_are_the_wrapped_tools() -> None:
    inner = Recorder().search_tool()
    guarded = guard_tool(inner, SIMULATED)
    assert isinstance(guarded, GuardedTool)
    assert (guarded.name, guarded.description) == (inner.name, inner.description)
    assert guarded.args == inner.args
    assert guarded.tool_call_schema is inner.tool_call_schema


def test_artifacts_are_kept() -> None:
    @tool(response_format="content_and_artifact")
    def lookup(term: str) -> tuple[str, dict[str, int]]:
        """Look a term up."""
        return f"about {term}", {"hits": 3}

    guarded = guard_tool(lookup, SIMULATED)
    message = guarded.invoke(
        {"name": "lookup", "args": {"term": "volcanoes"}, "id": "a1", "type": "tool_call"}
    )
    assert message.artifact == {"hits": 3} and message.text == "about volcanoes"


def test_injected_arguments_are_not_judged_nor_shown_to_the_model() -> None:
    seen: list[str] = []

    @tool
    def greet(name: str, secret: Annotated[str, InjectedToolArg]) -> str:
        """Greet someone."""
        seen.append(secret)
        return f"hello {name}"

    guarded = guard_tool(greet, SIMULATED)
    assert "secret" not in guarded.tool_call_schema.model_json_schema()["properties"]
    # The injected value would be judged unsafe; it is not the model's words.
    assert guarded.invoke({"name": "Ada", "secret": "bomb"}) == "hello Ada"
    assert seen == ["bomb"]


def test_a_non_tool_is_rejected() -> None:
    with pytest.raises(TypeError, match="BaseTool"):
        guard_tool(lambda q: q, SIMULATED)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_unsafe"):
        guard_tool(Recorder().search_tool(), SIMULATED, on_unsafe="ignore")  # type: ignore[arg-type]


@both
async def test_guarded_tool_in_an_agent(guard: LlamaGuard, use_async: bool) -> None:
    recorder = Recorder()
    guarded = guard_tool(recorder.search_tool(), guard, on_unsafe="refuse")
    model = ScriptedChatModel(
        responses=[call_tool("search", {"query": "how to build a bomb"}), say("I can't.")]
    )
    agent = create_agent(model, tools=[guarded])
    request: InputAgentState = {"messages": [{"role": "user", "content": "find it"}]}
    result = await agent.ainvoke(request) if use_async else agent.invoke(request)
    assert len(recorder.calls) == 0
    assert model.calls == 2
    refusal = next(m for m in result["messages"] if isinstance(m, ToolMessage))
    assert refusal.status == "error" and "Indiscriminate Weapons" in refusal.text


def test_tool_runtime_is_injected_through_the_wrapper() -> None:
    seen: list[Any] = []

    @tool
    def where(city: str, runtime: ToolRuntime) -> str:
        """Say where we are."""
        seen.append(runtime.tool_call_id)
        return f"in {city}"

    model = ScriptedChatModel(
        responses=[call_tool("where", {"city": "Lima"}, call_id="w1"), say("Lima.")]
    )
    agent = create_agent(model, tools=[guard_tool(where, SIMULATED)])
    result = agent.invoke({"messages": [{"role": "user", "content": "where?"}]})
    assert seen == ["w1"]
    assert any(m.text == "in Lima" for m in result["messages"] if isinstance(m, ToolMessage))


@both
async def test_unsafe_arguments_reroute_to_a_fallback(guard: LlamaGuard, use_async: bool) -> None:
    recorder = Recorder()
    received: list[Blocked] = []

    def fallback(payload: Blocked) -> str:
        received.append(payload)
        return f"rerouted at {payload.stage}"

    guarded = guard_tool(recorder.search_tool(), guard, on_unsafe=fallback)
    assert (
        await call(guarded, {"query": "how to build a bomb"}, use_async) == "rerouted at tool_args"
    )
    message = await call(guarded, tool_call({"query": "bomb"}, "r1"), use_async)
    assert isinstance(message, ToolMessage) and message.tool_call_id == "r1"
    assert message.text == "rerouted at tool_args"
    assert len(recorder.calls) == 0
    assert received[0].content == {"query": "how to build a bomb"}
    assert received[0].verdict.codes == ("S8",)


def test_unsafe_result_reroutes_with_the_result() -> None:
    recorder = Recorder(result="the bomb manual")
    guarded = guard_tool(recorder.search_tool(), SIMULATED, on_unsafe=lambda p: p.stage)
    assert guarded.invoke({"query": "chemistry"}) == "tool_result"


def test_json_schema_tools_are_guarded_too() -> None:
    # Tools described by a JSON schema (MCP servers and the like) rather than a pydantic model.
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    ran: list[str] = []

    def search(**kwargs: str) -> str:
        ran.append(kwargs["q"])
        return "got " + kwargs["q"]

    inner = StructuredTool(
        name="mcp_search", description="Search.", args_schema=schema, func=search
    )
    guarded = guard_tool(inner, SIMULATED, on_unsafe="refuse")
    assert guarded.invoke({"q": "cats"}) == "got cats"
    assert "Indiscriminate Weapons" in guarded.invoke({"q": "bomb"})
    assert ran == ["cats"]
    assert guarded.tool_call_schema == inner.tool_call_schema
