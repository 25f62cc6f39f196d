"""Judge or block (issue 10), LangChain: properties over every content shape, per surface.

A trigger word is planted in a random place of an input or an output, in every shape LangChain
accepts (message classes, tuples, dicts, content blocks of every known and unknown type, nested
prompt variables, tool results of every type). ``TriggerBackend`` flags it in any turn it is
shown, so each property checks one thing: no wrapped model, tool, callback or consumer ever
sees the trigger (it was shown to the guard, which blocked the call).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langchain_llamashield import (
    GuardedChatModel,
    LlamaGuardCallbackHandler,
    LlamaGuardDocumentFilter,
    LlamaGuardRunnable,
    guard_runnable,
    guard_tool,
)
from langchain_llamashield.testing import ScriptedChatModel

from llamashield import UnsafeContentError
from tests._support.planted import TRIGGER, carrier, leaks, trigger_guard
from tests.langchain._planted import (
    PROPERTY,
    Finding,
    Recorder,
    ai_message,
    content,
    messages_with_trigger,
    nested_value,
    planted_prompt_input,
)


class Inputs:
    """A wrapped runnable that records every input it is given."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def runnable(self) -> RunnableLambda[Any, str]:
        def record(value: Any) -> str:
            self.seen.append(value)
            return "Fine."

        return RunnableLambda(record)


# -- guard_runnable / LlamaGuardRunnable: inputs -----------------------------------------------


@PROPERTY
@given(value=planted_prompt_input())
def test_guard_runnable_judges_every_value_of_a_prompt_input(value: dict[str, Any]) -> None:
    inputs = Inputs()
    chain = guard_runnable(inputs.runnable(), trigger_guard())
    with pytest.raises(UnsafeContentError):
        chain.invoke(value)
    with pytest.raises(UnsafeContentError):
        list(chain.stream(value))
    assert inputs.seen == []


@PROPERTY
@given(value=st.one_of(planted_prompt_input(), messages_with_trigger, nested_value))
def test_a_check_step_judges_every_shape(value: Any) -> None:
    with pytest.raises(UnsafeContentError):
        LlamaGuardRunnable(trigger_guard()).invoke(value)


# -- guard_runnable / GuardedChatModel: outputs ------------------------------------------------


@PROPERTY
@given(answer=ai_message)
def test_guard_runnable_never_releases_an_unjudged_answer(answer: AIMessage) -> None:
    recorder = Recorder()
    chain = guard_runnable(
        ScriptedChatModel(responses=[answer]), trigger_guard(), on_unsafe="refuse"
    )
    config: Any = {"callbacks": [recorder]}
    released = [chain.invoke("hi", config), list(chain.stream("hi", config))]
    assert not leaks(released)
    assert not leaks(recorder.seen)


@PROPERTY
@given(output=nested_value)
def test_guard_runnable_judges_structured_outputs(output: Any) -> None:
    chain = guard_runnable(RunnableLambda(lambda _: output), trigger_guard())
    with pytest.raises(UnsafeContentError) as blocked:
        chain.invoke("hi")
    assert blocked.value.stage == "output"


@PROPERTY
@given(answer=ai_message)
def test_guarded_chat_model_never_releases_an_unjudged_answer(answer: AIMessage) -> None:
    recorder = Recorder()
    model = GuardedChatModel(
        ScriptedChatModel(responses=[answer]), trigger_guard(), on_unsafe="refuse"
    )
    config: Any = {"callbacks": [recorder]}
    released = [model.invoke("hi", config), list(model.stream("hi", config))]
    assert not leaks(released)
    assert not leaks(recorder.seen)


@PROPERTY
@given(messages=messages_with_trigger)
def test_guarded_chat_model_judges_every_message_it_is_given(messages: list[Any]) -> None:
    inner = ScriptedChatModel(answer="Fine.")
    model = GuardedChatModel(inner, trigger_guard())
    with pytest.raises(UnsafeContentError):
        model.invoke(messages)
    with pytest.raises(UnsafeContentError):
        list(model.stream(messages))
    assert inner.seen == []


# -- callback handler ---------------------------------------------------------------------------


@PROPERTY
@given(messages=messages_with_trigger)
def test_the_callback_handler_aborts_before_the_model_reads_the_trigger(
    messages: list[Any],
) -> None:
    inner = ScriptedChatModel(answer="Fine.")
    handler = LlamaGuardCallbackHandler(trigger_guard())
    if isinstance(messages[-1], AIMessage):
        return  # nothing new from the user's side: the handler judges the model's answer instead
    with pytest.raises(UnsafeContentError):
        inner.invoke(messages, config={"callbacks": [handler]})
    assert inner.seen == []


# -- tools ----------------------------------------------------------------------------------


TOOL_RESULTS = st.one_of(
    content,
    nested_value,
    st.builds(lambda t: Document(page_content=t), carrier),
    st.builds(lambda t: Document(page_content="ok", metadata={"summary": t}), carrier),
)


@PROPERTY
@given(result=TOOL_RESULTS, with_artifact=st.booleans())
def test_guard_tool_judges_every_kind_of_result(result: Any, with_artifact: bool) -> None:
    if with_artifact:

        @tool(response_format="content_and_artifact")
        def lookup(term: str) -> tuple[str, Any]:
            """Look a term up."""
            return "Found it.", result

    else:

        @tool
        def lookup(term: str) -> Any:
            """Look a term up."""
            return result

    guarded = guard_tool(lookup, trigger_guard(), on_unsafe="refuse")
    call = {"name": "lookup", "args": {"term": "x"}, "id": "c1", "type": "tool_call"}
    assert not leaks(guarded.invoke(call))
    if not with_artifact:  # called without a tool call, a content_and_artifact tool drops it
        with pytest.raises(UnsafeContentError):
            guard_tool(lookup, trigger_guard()).invoke({"term": "x"})


@PROPERTY
@given(argument=st.one_of(carrier, nested_value.filter(lambda v: not isinstance(v, Finding))))
def test_guard_tool_judges_arguments_before_running(argument: Any) -> None:
    ran: list[Any] = []

    @tool
    def search(query: Any) -> str:
        """Search."""
        ran.append(query)
        return "ok"

    with pytest.raises(UnsafeContentError):
        guard_tool(search, trigger_guard()).invoke({"query": argument})
    assert ran == []


# -- document filter ----------------------------------------------------------------------------


@PROPERTY
@given(text=carrier, position=st.integers(0, 3))
def test_the_document_filter_drops_what_carries_the_trigger(text: str, position: int) -> None:
    documents = [Document(page_content=f"safe {i}") for i in range(3)]
    documents.insert(position, Document(page_content=text))
    kept = LlamaGuardDocumentFilter(trigger_guard()).compress_documents(documents, "q")
    assert len(kept) == 3 and not leaks(kept)


def test_the_trigger_is_really_flagged_and_safe_text_passes() -> None:
    """The properties above are not vacuous: the kit tells the two apart."""
    guard = trigger_guard()
    assert not guard.check(f"a {TRIGGER} b").safe
    assert guard.check("a b").safe
    assert GuardedChatModel(ScriptedChatModel(answer="Fine."), guard).invoke(
        [HumanMessage("hi")]
    ).text == ("Fine.")
