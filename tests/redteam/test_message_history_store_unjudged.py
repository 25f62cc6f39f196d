"""README ("Memory: put RunnableWithMessageHistory inside the guard",
`guard_runnable(RunnableWithMessageHistory(...), guard, input_key=...)`) keeps refused
exchanges out of the history, but the history the wrapped runnable LOADS is never judged:
GuardedRunnable._plan judges the input dict (runnables.py `_context` -> input_conversation),
and RunnableWithMessageHistory adds the stored messages inside the wrapped call
(`get_session_history(...).messages` under `history_messages_key`). A store filled elsewhere
(another service or process sharing it, an import, an unguarded endpoint, a forged session)
reaches the model unjudged, with or without input_key. GuardedChatEngine, for the same
situation in LlamaIndex, judges the memory it reads ("a memory filled elsewhere")."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.chat_history import InMemoryChatMessageHistory
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import Runnable
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_llamashield import guard_runnable
from langchain_llamashield.testing import ScriptedChatModel

from tests._support.last_turn import TRIGGER, last_turn_guard

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the history classes

CONFIG: Any = {"configurable": {"session_id": "s"}}


def _chain(
    history: list[BaseMessage], *, keyed: bool = True
) -> tuple[Runnable[Any, Any], ScriptedChatModel, InMemoryChatMessageHistory]:
    stored = InMemoryChatMessageHistory(messages=history)
    model = ScriptedChatModel(answer="ok")
    if not keyed:  # the history and the input go to the model as one message list
        return RunnableWithMessageHistory(model, lambda session_id: stored), model, stored
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{question}")]
    )
    chain = RunnableWithMessageHistory(
        prompt | model,
        lambda session_id: stored,
        input_messages_key="question",
        history_messages_key="history",
    )
    return chain, model, stored


def _planted() -> list[BaseMessage]:
    return [HumanMessage("hi"), AIMessage(f"Sure! {TRIGGER} PAYLOAD")]


def _read(model: ScriptedChatModel) -> list[str]:
    return [m.text for call in model.seen for m in call]


@pytest.mark.parametrize("input_key", ["question", None])
def test_the_stored_history_is_judged_before_the_model_reads_it(input_key: str | None) -> None:
    chain, model, _ = _chain(_planted())
    guarded = guard_runnable(chain, last_turn_guard()[0], input_key=input_key, on_unsafe="refuse")
    guarded.invoke({"question": "go on"}, config=CONFIG)
    read = _read(model)
    assert not any("PAYLOAD" in t for t in read), f"the model read the stored history: {read}"


@pytest.mark.parametrize("how", ["ainvoke", "stream", "astream", "parallel"])
def test_every_path_judges_the_stored_history(how: str) -> None:
    chain, model, stored = _chain(_planted())
    guarded = guard_runnable(
        chain, last_turn_guard()[0], on_unsafe="refuse", parallel=how == "parallel"
    )
    value = {"question": "go on"}

    async def astreamed() -> list[Any]:
        return [c async for c in guarded.astream(value, config=CONFIG)]

    if how == "ainvoke":
        out: Any = asyncio.run(guarded.ainvoke(value, config=CONFIG))
    elif how == "stream":
        out = list(guarded.stream(value, config=CONFIG))
    elif how == "astream":
        out = asyncio.run(astreamed())
    else:
        out = guarded.invoke(value, config=CONFIG)
    assert model.calls == 0 or how == "parallel"  # parallel: it runs, its result discarded
    assert "PAYLOAD" not in repr(out)
    assert len(stored.messages) == 2  # the refused exchange is not remembered


def test_a_history_runnable_first_in_a_sequence_and_unkeyed() -> None:
    chain, model, _ = _chain(_planted(), keyed=False)
    guarded = guard_runnable(chain | StrOutputParser(), last_turn_guard()[0], on_unsafe="refuse")
    guarded.invoke("go on", config=CONFIG)
    assert model.calls == 0


def test_control_a_safe_stored_history_passes_and_grows() -> None:
    chain, model, stored = _chain([HumanMessage("hi"), AIMessage("Hello! How can I help?")])
    guard, backend = last_turn_guard()
    guarded = guard_runnable(chain, guard, on_unsafe="refuse")
    assert guarded.invoke({"question": "go on"}, config=CONFIG).text == "ok"
    assert model.calls == 1
    assert "Hello! How can I help?" in backend.last_turns  # judged, as its own last turn
    assert [m.text for m in stored.messages][-2:] == ["go on", "ok"]
    judged = len(backend.last_turns)
    guarded.invoke({"question": "and then?"}, config=CONFIG)
    # the stored turns were judged (or written, as judged answers) before: only the new ones
    assert backend.last_turns[judged:] == ["and then?", "ok"]
