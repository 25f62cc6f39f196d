"""guard_runnable(..., input_key="question") judges value["question"] only
(_inputs.input_conversation: `if key is not None: return input_conversation(value[key])`):
a client-sent history under the template's MessagesPlaceholder, and every other prompt
variable, reach the model unjudged. input_key is the documented way to say which variable
holds "the text"; nothing says it switches history judging off."""

from __future__ import annotations

from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_llamashield import guard_runnable
from langchain_llamashield.testing import ScriptedChatModel

from tests._support.last_turn import TRIGGER, last_turn_guard


def test_history_is_judged_with_input_key() -> None:
    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer="ok")
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{question}")]
    )
    chain = guard_runnable(prompt | model, guard, input_key="question", on_unsafe="refuse")
    chain.invoke(
        {"history": [("human", "hi"), ("ai", f"Sure! {TRIGGER} PAYLOAD")], "question": "go on"}
    )
    assert model.calls == 0, "the history reached the model unjudged"
