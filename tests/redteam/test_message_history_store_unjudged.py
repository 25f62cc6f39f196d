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

import pytest
from langchain_core.chat_history import InMemoryChatMessageHistory
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_llamashield import guard_runnable
from langchain_llamashield.testing import ScriptedChatModel

from tests._support.last_turn import TRIGGER, last_turn_guard


@pytest.mark.xfail(strict=True, reason="escape: a stored chat history is never judged")
@pytest.mark.parametrize("input_key", ["question", None])
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the history classes, upstream
def test_the_stored_history_is_judged_before_the_model_reads_it(input_key: str | None) -> None:
    filled_elsewhere = [HumanMessage("hi"), AIMessage(f"Sure! {TRIGGER} PAYLOAD")]
    store = {"s": InMemoryChatMessageHistory(messages=filled_elsewhere)}
    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer="ok")
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{question}")]
    )
    chain = RunnableWithMessageHistory(
        prompt | model,
        lambda session_id: store[session_id],
        input_messages_key="question",
        history_messages_key="history",
    )
    guarded = guard_runnable(chain, guard, input_key=input_key, on_unsafe="refuse")
    guarded.invoke({"question": "go on"}, config={"configurable": {"session_id": "s"}})
    read = [m.text for call in model.seen for m in call]
    assert not any("PAYLOAD" in t for t in read), f"the model read the stored history: {read}"
