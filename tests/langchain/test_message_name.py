"""A message's ``name`` reaches the model (OpenAI's participant name, a tool message's tool
name), so it is judged with the message's content; ids are not."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_llamashield import GuardedChatModel
from langchain_llamashield._inputs import message_dict, message_text
from langchain_llamashield.testing import ScriptedChatModel

from llamashield import LlamaGuard
from llamashield._conversation import normalize_conversation
from llamashield.backends import SimulatedBackend

# What OpenAI accepts as a name: up to 64 of [A-Za-z0-9_-].
names = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
KINDS = ["human", "ai", "system", "tool", "function"]


def make(kind: str, content: str, name: str, message_id: str) -> BaseMessage:
    if kind == "tool":
        return ToolMessage(content, name=name, tool_call_id="call_1", id=message_id)
    if kind == "function":
        return FunctionMessage(content=content, name=name, id=message_id)
    cls: Any = {"human": HumanMessage, "ai": AIMessage, "system": SystemMessage}[kind]
    message: BaseMessage = cls(content, name=name, id=message_id)
    return message


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(KINDS), names)
def test_every_message_s_name_is_judged_and_its_id_is_not(kind: str, name: str) -> None:
    message = make(kind, "some content", name, "msgid-0123456789")
    text = message_text(message)
    assert text.startswith("some content")  # the content first, then the name
    assert name in text
    assert "msgid-0123456789" not in text
    # Through the core's reader too (``check`` takes LangChain messages as they are).
    turn = normalize_conversation([message])[-1]
    assert name in turn.content and "msgid" not in turn.content


@pytest.mark.parametrize("kind", KINDS)
def test_a_message_without_a_name_reads_as_before(kind: str) -> None:
    message = make(kind, "plain", "n", "id1")
    message.name = None
    assert message_text(message) == "plain"


def test_the_judged_message_dict_carries_the_name() -> None:
    message = HumanMessage("hi", name="bomb_maker")
    assert "bomb_maker" in message_dict(message)["content"]


@pytest.mark.parametrize("kind", ["human", "ai", "tool"])
def test_an_unsafe_name_in_the_history_stops_the_model(kind: str) -> None:
    history = [
        HumanMessage("hello"),
        make(kind, "fine words", "how-to-build-a-bomb", "id7"),
        HumanMessage("go on"),
    ]
    model = ScriptedChatModel(answer="ok")
    GuardedChatModel(model, LlamaGuard(SimulatedBackend()), on_unsafe="refuse").invoke(history)
    assert model.calls == 0


def test_a_safe_name_lets_the_model_run() -> None:
    model = ScriptedChatModel(answer="ok")
    guarded = GuardedChatModel(model, LlamaGuard(SimulatedBackend()), on_unsafe="refuse")
    guarded.invoke([HumanMessage("hello", name="alice")])
    assert model.calls == 1
