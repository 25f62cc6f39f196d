"""guard_tool: unsafe arguments never run the tool; unsafe results never come back."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.tools import FunctionTool, QueryEngineTool, ToolMetadata, ToolOutput
from llama_index.core.tools.types import BaseTool
from llama_index.core.workflow import Context
from llama_index.llamashield import guard_tool

from llamashield import Blocked, LlamaGuard, UnsafeContentError
from tests.llamaindex.li_helpers import mentions_unsafe, rag_engine


class Calls:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def lookup(self, query: str) -> str:
        """Look something up."""
        self.seen.append(query)
        if "recipe" in query:
            return "Mix the explosives to build a bomb."
        return f"Found: {query}"

    async def alookup(self, query: str) -> str:
        """Look something up (async)."""
        return self.lookup(query)


@pytest.fixture
def calls() -> Calls:
    return Calls()


def test_safe_call_runs_the_tool(guard: LlamaGuard, calls: Calls) -> None:
    tool = guard_tool(FunctionTool.from_defaults(calls.lookup), guard)
    output = tool(query="weather in Paris")
    assert output.content == "Found: weather in Paris"
    assert calls.seen == ["weather in Paris"]
    assert tool.metadata.name == "lookup"
    assert isinstance(tool, FunctionTool)


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_unsafe_arguments_never_run_the_tool(
    guard: LlamaGuard, calls: Calls, asynchronous: bool
) -> None:
    tool = guard_tool(FunctionTool.from_defaults(async_fn=calls.alookup), guard)
    assert isinstance(tool, FunctionTool)  # a FunctionTool stays one (keyword arguments)
    with pytest.raises(UnsafeContentError) as caught:
        if asynchronous:
            await tool.acall(query="how to build a bomb")
        else:
            tool.call(query="how to build a bomb")
    assert caught.value.stage == "tool_args"
    assert calls.seen == []


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_unsafe_result_is_replaced_in_content_and_raw_output(
    guard: LlamaGuard, calls: Calls, asynchronous: bool
) -> None:
    tool = guard_tool(FunctionTool.from_defaults(calls.lookup), guard, on_unsafe="refuse")
    assert isinstance(tool, FunctionTool)
    if asynchronous:
        output = await tool.acall(query="cake recipe")
    else:
        output = tool(query="cake recipe")
    assert calls.seen == ["cake recipe"]
    assert (
        output.content
        == "I'm sorry, but I can't help with that: it was flagged for Indiscriminate Weapons."
    )
    assert (
        output.raw_output
        == "I'm sorry, but I can't help with that: it was flagged for Indiscriminate Weapons."
    )
    assert output.is_error
    assert isinstance(output.exception, UnsafeContentError)
    assert output.exception.stage == "tool_result"


def test_callable_on_unsafe_builds_the_output(guard: LlamaGuard, calls: Calls) -> None:
    received: list[Blocked] = []

    def replace(blocked: Blocked) -> ToolOutput:
        received.append(blocked)
        return ToolOutput(tool_name="lookup", content=f"withheld {blocked.stage}", raw_input={})

    tool = guard_tool(FunctionTool.from_defaults(calls.lookup), guard, on_unsafe=replace)
    assert tool(query="cake recipe").content == "withheld tool_result"
    assert tool(query="bomb").content == "withheld tool_args"
    assert received[1].content == "bomb" and received[1].verdict.codes == ("S8",)
    assert str(received[1]).startswith("I'm sorry")


def test_partial_params_apply_once(guard: LlamaGuard) -> None:
    seen: list[tuple[str, str]] = []

    def greet(name: str, greeting: str) -> str:
        """Greet."""
        seen.append((greeting, name))
        return f"{greeting}, {name}"

    inner = FunctionTool.from_defaults(greet, partial_params={"greeting": "Hello"})
    assert guard_tool(inner, guard)(name="Ada").content == "Hello, Ada"
    assert seen == [("Hello", "Ada")]


async def test_context_is_still_injected_and_not_judged(
    guard: LlamaGuard, loopback_server: Any
) -> None:
    async def remember(ctx: Context, fact: str) -> str:
        """Remember a fact."""
        return f"stored {fact}"

    # LlamaIndex spots a Context parameter by its annotation object, not a postponed string.
    remember.__annotations__["ctx"] = Context
    tool = guard_tool(FunctionTool.from_defaults(async_fn=remember), guard)
    assert isinstance(tool, FunctionTool)
    assert tool.requires_context and tool.ctx_param_name == "ctx"
    output = await tool.acall(ctx=object(), fact="Paris is in France")
    assert output.content == "stored Paris is in France"
    judged = loopback_server.bodies[-2]["messages"][-1]
    # The arguments are the Agent's turn (the model wrote them): the call, no Context.
    assert judged["role"] == "assistant" and judged["content"].endswith("Paris is in France")
    assert "Context" not in judged["content"] and "ctx" not in judged["content"]


class EchoTool(BaseTool):
    """A plain sync BaseTool (no async)."""

    @property
    def metadata(self) -> ToolMetadata:
        return ToolMetadata(name="echo", description="Echo the input.")

    def __call__(self, input: Any) -> ToolOutput:
        return ToolOutput(tool_name="echo", content=str(input), raw_input={}, raw_output=input)


async def test_plain_base_tool_is_guarded_sync_and_async(guard: LlamaGuard) -> None:
    tool = guard_tool(EchoTool(), guard, on_unsafe="refuse")
    assert tool("hello").content == "hello"
    assert (await tool.acall("hello")).content == "hello"
    blocked = await tool.acall("build a bomb")
    assert (
        blocked.content
        == "I'm sorry, but I can't help with that: it was flagged for Indiscriminate Weapons."
    )
    assert (
        blocked.raw_output
        == "I'm sorry, but I can't help with that: it was flagged for Indiscriminate Weapons."
    )


def test_bad_arguments(sim_guard: LlamaGuard) -> None:
    with pytest.raises(TypeError):
        guard_tool(lambda x: x, sim_guard)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_unsafe"):
        guard_tool(EchoTool(), sim_guard, on_unsafe="ignore")  # type: ignore[arg-type]


async def test_query_engine_tool_over_a_poisoned_index(
    guard: LlamaGuard, poisoned_index: Any
) -> None:

    inner = rag_engine(poisoned_index)
    tool = guard_tool(
        QueryEngineTool.from_defaults(inner, name="docs", description="Search the documents."),
        guard,
        on_unsafe="refuse",
    )
    for output in (tool("Tell me about Paris"), await tool.acall("Tell me about Paris")):
        assert (
            output.content
            == "I'm sorry, but I can't help with that: it was flagged for Indiscriminate Weapons."
        )
        assert not mentions_unsafe(str(output.raw_output))
    assert inner.calls == 2
    with pytest.raises(UnsafeContentError):
        guard_tool(QueryEngineTool.from_defaults(inner, name="docs", description="d"), guard)(
            "how to build a bomb"
        )
    assert inner.calls == 2
