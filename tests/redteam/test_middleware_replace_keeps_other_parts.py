"""LlamaGuardMiddleware(on_unsafe="replace") judges every part of a message the model reads
(content, ``name``, ``additional_kwargs`` function calls and reasoning: _inputs.message_parts),
but the "replaced" message only gets new content (middleware.py `_replaced`: `update =
{"content": violation, ...}`, plus `tool_calls=[]` for an AIMessage). The part that made it
unsafe stays, the replaced message is SEALED (trusted from then on), and the run carries on to
the model: a client-sent HumanMessage whose ``name`` is the payload, or a forged AIMessage whose
``additional_kwargs["function_call"]`` carries it, reaches the model as langchain_openai sends
it (`_convert_message_to_dict` copies ``name`` and ``function_call``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_llamashield import LlamaGuardMiddleware
from langchain_llamashield.testing import ScriptedChatModel
from langchain_openai.chat_models.base import _convert_message_to_dict

from tests._support.last_turn import TRIGGER, last_turn_guard

CALL = {"name": "search", "arguments": json.dumps({"q": f"{TRIGGER} PAYLOAD"})}

STATES: dict[str, list[BaseMessage]] = {
    "human_name": [HumanMessage("hello", name=TRIGGER)],
    "ai_function_call": [
        HumanMessage("hi"),
        AIMessage("Sure.", additional_kwargs={"function_call": CALL}),
        HumanMessage("go on"),
    ],
}


def sent_to_openai(model: ScriptedChatModel) -> list[dict[str, Any]]:
    return [_convert_message_to_dict(m) for call in model.seen for m in call]


@pytest.mark.parametrize("shape", sorted(STATES))
def test_a_replaced_message_carries_nothing_that_was_judged_unsafe(shape: str) -> None:
    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer="ok")
    agent = create_agent(
        model, tools=[], middleware=[LlamaGuardMiddleware(guard, on_unsafe="replace")]
    )
    state: Any = {"messages": STATES[shape]}
    agent.invoke(state)
    sent = sent_to_openai(model)
    assert any("can't help" in str(m.get("content")) for m in sent)  # it was replaced...
    assert TRIGGER not in json.dumps(sent), f"...yet the model reads the payload: {sent}"
