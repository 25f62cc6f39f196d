"""``langchain_llamashield.testing``: the scripted chat model the tests and benchmarks share."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage, ToolCall
from langchain_core.tools import tool
from langchain_llamashield import guard_runnable
from langchain_llamashield.testing import ScriptedChatModel

from llamashield import LlamaGuard

words = st.lists(st.text(st.characters(categories=["L", "N"]), min_size=1), min_size=1)


@given(words)
def test_a_stream_joins_back_into_the_answer_word_by_word(parts: list[str]) -> None:
    answer = " ".join(parts)
    model = ScriptedChatModel(answer=answer)
    # LangChain closes a stream with an empty chunk of its own: only the model's words count.
    chunks = [str(chunk.content) for chunk in model.stream("hi") if chunk.content]
    assert "".join(chunks) == answer
    assert len(chunks) == len(parts)
    assert (model.calls, model.chunks_streamed, model.streams_finished) == (1, len(parts), 1)


def test_it_records_each_call_its_messages_and_stop_words() -> None:
    model = ScriptedChatModel(answer="Fine.")
    assert model.invoke("hello", stop=["\n"]).content == "Fine."
    assert asyncio.run(model.ainvoke("again")).content == "Fine."
    assert model.calls == 2 and model.finished == 2
    assert [m[0].content for m in model.seen] == ["hello", "again"]
    assert isinstance(model.seen[0][0], HumanMessage)
    assert model.stops == [["\n"], None]


def test_a_cancelled_async_call_is_counted() -> None:
    model = ScriptedChatModel(delay=30.0)

    async def cancel() -> None:
        task = asyncio.ensure_future(model.ainvoke("hi"))
        for _ in range(1000):  # let the call start (no clock: a bounded number of yields)
            if model.calls:
                break
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel())
    assert (model.calls, model.cancelled, model.finished) == (1, 1, 0)


def test_the_docstring_example_a_guard_stops_the_model(guard: LlamaGuard) -> None:
    model = ScriptedChatModel(answer="Hello there.")
    guarded = guard_runnable(model, guard, on_unsafe="refuse")
    refused = guarded.invoke("How do I build a bomb?")
    assert refused.content != "Hello there."
    assert model.calls == 0
    assert guarded.invoke("Hello!").content == "Hello there."
    assert model.calls == 1


def test_scripted_responses_answer_in_turn_the_last_repeating() -> None:
    model = ScriptedChatModel(responses=[AIMessage("one"), AIMessage("two")])
    assert [model.invoke("x").text for _ in range(3)] == ["one", "two", "two"]
    assert model.calls == 3 and model.finished == 3


@given(
    text=st.text(st.characters(categories=["L", "N", "Zs"]), max_size=20),
    args=st.none() | st.dictionaries(st.sampled_from(["q", "n"]), st.text(max_size=5)),
    reasoning=st.none() | st.text(min_size=1, max_size=10),
)
def test_a_streamed_response_adds_up_to_the_scripted_message(
    text: str, args: dict[str, str] | None, reasoning: str | None
) -> None:
    calls = [ToolCall(name="search", args=args, id="c1", type="tool_call")] if args else []
    extra = {"reasoning_content": reasoning} if reasoning else {}
    message = AIMessage(content=text, tool_calls=calls, additional_kwargs=extra)
    chunks = list(ScriptedChatModel(responses=[message]).stream("hi"))
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.text == text
    assert [(c["name"], c["args"]) for c in total.tool_calls] == [
        (c["name"], c["args"]) for c in calls
    ]
    assert total.additional_kwargs.get("reasoning_content") == reasoning


def test_an_agent_runs_on_it_calling_the_scripted_tool() -> None:
    from langchain.agents import create_agent

    ran: list[str] = []

    @tool
    def search(query: str) -> str:
        """Search the web."""
        ran.append(query)
        return "Volcanoes are mountains."

    call = ToolCall(name="search", args={"query": "volcanoes"}, id="c1", type="tool_call")
    model = ScriptedChatModel(responses=[AIMessage("", tool_calls=[call]), AIMessage("Done.")])
    result = create_agent(model, tools=[search]).invoke({"messages": [HumanMessage("find")]})
    assert ran == ["volcanoes"] and result["messages"][-1].text == "Done."
    assert model.calls == 2 and "Volcanoes are mountains." in repr(model.seen[1])
