"""The arguments judged are the arguments the tool receives: schema aliases, populate_by_name,
nested models, extra fields, validators, every input form (issue 20, item 5)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool
from langchain_llamashield import LlamaGuardMiddleware, guard_tool
from langchain_llamashield.testing import ScriptedChatModel
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import ExtraValues

from llamashield import LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend
from tests._support.judged import BOMB, JudgedTexts, received_strings
from tests.langchain._fakes import tool_call_request


class Filters(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    term: str = Field(alias="t")
    region: str | None = Field(default=None, alias="r")


def _schema(populate_by_name: bool, extra: ExtraValues) -> type[BaseModel]:
    config = ConfigDict(populate_by_name=populate_by_name, extra=extra)

    class SearchArgs(BaseModel):
        model_config = config
        query: str = Field(alias="q")
        note: str | None = None
        filters: Filters | None = Field(default=None, alias="f")

    return SearchArgs


def _recording_tool(schema: type[BaseModel], received: list[dict[str, Any]]) -> BaseTool:
    def search(**kwargs: Any) -> str:
        received.append(kwargs)
        return "Volcanoes are mountains."

    async def asearch(**kwargs: Any) -> str:
        return search(**kwargs)

    return StructuredTool.from_function(
        func=search, coroutine=asearch, name="search", description="Search.", args_schema=schema
    )


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=20).filter(
    lambda s: s.strip() == s and s != ""
)


@st.composite
def tool_inputs(draw: st.DrawFn, populate_by_name: bool, extra: str) -> dict[str, Any]:
    """Arguments as a model might write them: aliases, or field names where allowed."""
    by_name = populate_by_name and draw(st.booleans())
    args: dict[str, Any] = {("query" if by_name else "q"): draw(words)}
    if draw(st.booleans()):
        args["note"] = draw(words)
    if draw(st.booleans()):
        inner = {("term" if draw(st.booleans()) else "t"): draw(words)}
        if draw(st.booleans()):
            inner["r"] = draw(words)
        args["filters" if by_name and draw(st.booleans()) else "f"] = inner
    if draw(st.booleans()):
        args["extra_field"] = draw(words)
    return args


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    populate_by_name=st.booleans(),
    extra=st.sampled_from(["ignore", "allow"]),
    form=st.sampled_from(["dict", "tool_call", "ainvoke_tool_call"]),
)
def test_every_string_the_tool_receives_was_judged(
    data: st.DataObject, populate_by_name: bool, extra: ExtraValues, form: str
) -> None:
    args = data.draw(tool_inputs(populate_by_name, extra))
    backend = JudgedTexts()
    received: list[dict[str, Any]] = []
    guarded = guard_tool(
        _recording_tool(_schema(populate_by_name, extra), received),
        LlamaGuard(backend),
        check_output=False,
    )
    call = {"name": "search", "args": args, "id": "call-1", "type": "tool_call"}
    try:
        if form == "dict":
            guarded.invoke(args)
        elif form == "tool_call":
            guarded.invoke(call)
        else:
            asyncio.run(guarded.ainvoke(call))
    except Exception:
        assert received == []  # refused by the tool's own parsing: it never ran
        return
    assert len(received) == 1
    judged = "\n".join(backend.judged)
    for text in received_strings(received[0]):
        assert text in judged


@pytest.mark.parametrize("form", ["dict", "tool_call"])
def test_an_aliased_argument_is_judged_and_the_tool_never_runs(form: str) -> None:
    received: list[dict[str, Any]] = []
    guarded = guard_tool(_recording_tool(_schema(False, "ignore"), received), LlamaGuard(
        SimulatedBackend()))  # fmt: skip
    call = {"name": "search", "args": {"q": BOMB}, "id": "call-1", "type": "tool_call"}
    with pytest.raises(UnsafeContentError) as caught:
        guarded.invoke({"q": BOMB} if form == "dict" else call)
    assert caught.value.stage == "tool_args"
    assert received == []


class Encoded(BaseModel):
    """A schema whose validator rewrites its argument (here: decodes it)."""

    query: str

    @field_validator("query")
    @classmethod
    def decode(cls, value: str) -> str:
        return base64.b64decode(value).decode()


ENCODED_BOMB = base64.b64encode(BOMB.encode()).decode()


def test_what_a_validator_makes_of_an_argument_is_judged() -> None:
    received: list[dict[str, Any]] = []
    guarded = guard_tool(_recording_tool(Encoded, received), LlamaGuard(SimulatedBackend()))
    with pytest.raises(UnsafeContentError):
        guarded.invoke({"query": ENCODED_BOMB})
    assert received == []


def test_a_plain_string_input_is_judged_as_given() -> None:
    backend = JudgedTexts()
    received: list[str] = []

    def lookup(query: str) -> str:
        """Look a word up."""
        received.append(query)
        return "found"

    guarded = guard_tool(StructuredTool.from_function(lookup), LlamaGuard(backend))
    guarded.invoke("volcanoes of iceland")
    assert received == ["volcanoes of iceland"]
    assert any("volcanoes of iceland" in text for text in backend.judged)


@pytest.mark.parametrize("use_async", [False, True])
@pytest.mark.parametrize("how", ["alias", "validator"])
def test_middleware_judges_tool_call_arguments_as_the_tool_receives_them(
    use_async: bool, how: str
) -> None:
    received: list[dict[str, Any]] = []
    schema, args = (
        (_schema(False, "ignore"), {"q": BOMB})
        if how == "alias"
        else (Encoded, {"query": ENCODED_BOMB})
    )
    tool = _recording_tool(schema, received)
    middleware = LlamaGuardMiddleware(LlamaGuard(SimulatedBackend()), check_tool_calls=True)
    message = AIMessage(
        "", tool_calls=[{"name": "search", "args": args, "id": "c1", "type": "tool_call"}]
    )
    request = tool_call_request(message.tool_calls[0], [HumanMessage("find"), message], tool)

    def handler(req: Any) -> ToolMessage:
        return tool.invoke(req.tool_call)  # type: ignore[no-any-return]

    async def ahandler(req: Any) -> ToolMessage:
        return handler(req)

    with pytest.raises(UnsafeContentError) as caught:  # exit_behavior="error", the default
        if use_async:
            asyncio.run(middleware.awrap_tool_call(request, ahandler))
        else:
            middleware.wrap_tool_call(request, handler)
    assert caught.value.stage == "tool_args"
    assert received == []


@pytest.mark.parametrize("use_async", [False, True])
def test_an_agent_never_runs_a_tool_on_text_its_validator_wrote_unjudged(use_async: bool) -> None:
    # The tool call is judged with the answer that made it (its arguments as written, safe);
    # the tool's validator then makes new text of them: that is judged before the tool runs.
    from langchain.agents import create_agent
    from langchain.agents.middleware import InputAgentState

    from tests.langchain._fakes import call_tool, say

    received: list[dict[str, Any]] = []
    model = ScriptedChatModel(
        responses=[call_tool("search", {"query": ENCODED_BOMB}), say("Done.")]
    )
    middleware = LlamaGuardMiddleware(LlamaGuard(SimulatedBackend()), on_unsafe="end")
    agent = create_agent(model, tools=[_recording_tool(Encoded, received)], middleware=[middleware])
    ask: InputAgentState = {"messages": [{"role": "user", "content": "Find it."}]}
    result = asyncio.run(agent.ainvoke(ask)) if use_async else agent.invoke(ask)
    assert received == []
    assert BOMB not in "\n".join(m.text for m in result["messages"])
