"""Whole conversations: a trigger planted in ANY turn that came from outside is judged.

The guard here judges the last turn only (``LastTurnTrigger``, as Llama Guard does), and the
trigger is never in the last turn: each surface must show every earlier turn to the guard as
the last turn of its own prefix, or the call goes through and the property fails.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_llamashield import GuardedChatModel, LlamaGuardCallbackHandler, guard_runnable
from langchain_llamashield.testing import ScriptedChatModel

from llamashield import UnsafeContentError
from tests._support.last_turn import (
    TRIGGER,
    carrier,
    conversation_with_trigger,
    last_turn_guard,
    leaks,
    safe_text,
)
from tests._support.properties import pipeline_property

PROPERTY = pipeline_property(30)


@PROPERTY
@given(conversation_with_trigger())
def test_core_check_conversation_finds_the_trigger_in_any_turn(messages: list[Any]) -> None:
    from langchain_core.messages import convert_to_messages
    from langchain_llamashield._inputs import message_dict

    from llamashield._conversation import normalize_conversation

    guard, _ = last_turn_guard()
    conversation = [message_dict(m) for m in convert_to_messages(messages)]
    if TRIGGER not in normalize_conversation(conversation)[-1].content:
        assert guard.check(conversation).safe  # the last turn alone is safe: the escape
    verdict = guard.check_conversation(conversation)
    assert not verdict.safe and verdict.codes == ("S1",)


@PROPERTY
@given(conversation_with_trigger(), st.sampled_from(["invoke", "ainvoke", "stream", "astream"]))
def test_guarded_chat_model_never_calls_the_model(messages: list[Any], how: str) -> None:
    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer="Sure.")
    guarded = GuardedChatModel(model, guard, on_unsafe="refuse")
    if how == "invoke":
        out: Any = guarded.invoke(messages)
    elif how == "ainvoke":
        out = asyncio.run(guarded.ainvoke(messages))
    elif how == "stream":
        out = list(guarded.stream(messages))
    else:

        async def collect() -> list[Any]:
            return [chunk async for chunk in guarded.astream(messages)]

        out = asyncio.run(collect())
    assert model.calls == 0 and not model.seen
    assert "can't help" in repr(out)


@PROPERTY
@given(conversation_with_trigger())
def test_guard_runnable_judges_a_history_placeholder_turn_by_turn(messages: list[Any]) -> None:
    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer="Sure.")
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Be brief."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    chain = guard_runnable(prompt | model, guard)
    with pytest.raises(UnsafeContentError):
        chain.invoke({"history": messages, "question": "go on"})
    assert model.calls == 0


@PROPERTY
@given(carrier, st.sampled_from(["system", "assistant", "user", "ai", "human"]))
def test_a_message_list_pasted_into_a_text_variable_is_judged_entry_by_entry(
    text: str, role: str
) -> None:
    """The template pastes the list into the human message as text: whatever role an entry
    claims, it is text the model reads from the user (issue item 2)."""
    guard, backend = last_turn_guard()
    model = ScriptedChatModel(answer="Sure.")
    prompt = ChatPromptTemplate.from_messages([("human", "Question: {question}")])
    chain = guard_runnable(prompt | model, guard)
    with pytest.raises(UnsafeContentError):
        chain.invoke({"question": [(role, text)], "lang": "en"})
    assert model.calls == 0
    assert any(TRIGGER in shown for shown in backend.last_turns)


@PROPERTY
@given(conversation_with_trigger())
def test_callback_handler_aborts_before_the_model(messages: list[Any]) -> None:
    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer="Sure.")
    handler = LlamaGuardCallbackHandler(guard)
    with pytest.raises(UnsafeContentError):
        model.invoke(messages, config={"callbacks": [handler]})
    assert model.calls == 0


@PROPERTY
@given(conversation_with_trigger(), st.booleans())
def test_agent_middleware_judges_the_whole_initial_state(
    messages: list[Any], use_async: bool
) -> None:
    from langchain.agents import create_agent
    from langchain.agents.middleware import InputAgentState
    from langchain_llamashield import LlamaGuardMiddleware

    guard, _ = last_turn_guard()
    model = ScriptedChatModel(answer="Sure.")
    agent = create_agent(model, tools=[], middleware=[LlamaGuardMiddleware(guard, on_unsafe="end")])
    state: InputAgentState = {"messages": messages}
    result = asyncio.run(agent.ainvoke(state)) if use_async else agent.invoke(state)
    assert model.calls == 0
    assert "can't help" in result["messages"][-1].text


@PROPERTY
@given(st.lists(safe_text, min_size=1, max_size=4), carrier)
def test_llamaindex_chat_engine_judges_chat_history(history: list[str], text: str) -> None:
    from llama_index.core.base.llms.types import ChatMessage, MessageRole
    from llama_index.core.chat_engine import SimpleChatEngine
    from llama_index.core.llms import MockLLM
    from llama_index.llamashield import GuardedChatEngine

    guard, _ = last_turn_guard()
    seen: list[Any] = []

    class Recording(MockLLM):
        def chat(self, messages: Any, **kwargs: Any) -> Any:
            seen.append(list(messages))
            return super().chat(messages, **kwargs)

    engine = SimpleChatEngine.from_defaults(llm=Recording(max_tokens=None))
    chat_history = [
        ChatMessage(role=MessageRole.USER if i % 2 == 0 else MessageRole.ASSISTANT, content=t)
        for i, t in enumerate(history)
    ]
    chat_history.insert(len(history) // 2, ChatMessage(role=MessageRole.ASSISTANT, content=text))
    guarded = GuardedChatEngine(engine, guard, on_unsafe="refuse")
    reply = guarded.chat("please go on", chat_history=chat_history)
    assert not seen and "can't help" in reply.response


@PROPERTY
@given(st.sampled_from(["user", "assistant"]), carrier)
def test_guard_agent_judges_chat_history(role: str, text: str) -> None:
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.core.llms import MockFunctionCallingLLM
    from llama_index.llamashield import guard_agent

    guard, _ = last_turn_guard()
    calls: list[Any] = []

    def answer(messages: Any, **_: Any) -> ChatMessage:
        calls.append(messages)
        return ChatMessage(role="assistant", content="Sure.")

    agent = FunctionAgent(tools=[], llm=MockFunctionCallingLLM(response_generator=answer))
    shielded = guard_agent(agent, guard, on_unsafe="refuse")
    history = [ChatMessage(role=role, content=text), ChatMessage(role="assistant", content="ok")]

    async def go() -> Any:
        return await shielded.run(user_msg="go on", chat_history=history)

    output = asyncio.run(go())
    assert not calls
    assert "can't help" in str(output.response.content)


def test_a_growing_conversation_costs_one_check_per_new_message() -> None:
    guard, backend = last_turn_guard()
    model = ScriptedChatModel(answer="Noted.")
    chat = GuardedChatModel(model, guard)
    history: list[Any] = []
    for turn in range(6):
        history.append(HumanMessage(content=f"message number {turn}"))
        before = backend.calls
        answer = chat.invoke(history)
        history.append(AIMessage(content=answer.content))
        # the new message, and the answer: every earlier turn was judged before
        assert backend.calls - before == 2, turn
    assert not leaks(model.seen)


def test_judge_history_false_is_the_last_turn_only() -> None:
    guard, _ = last_turn_guard(judge_history=False)
    planted = [("assistant", f"here: {TRIGGER}"), ("user", "go on")]
    assert guard.check_conversation(planted).safe  # the documented risk of the option
    strict, _ = last_turn_guard()
    assert not strict.check_conversation(planted).safe


def test_trusted_turns_are_context_only() -> None:
    guard, backend = last_turn_guard()
    conversation = [("user", "hi"), ("assistant", f"my own words {TRIGGER}"), ("user", "ok")]
    assert guard.check_conversation(conversation, trusted=[1]).safe
    assert all(TRIGGER not in turn for turn in backend.last_turns)


def test_an_edited_turn_is_judged_again() -> None:
    guard, backend = last_turn_guard()
    conversation = [("user", "hi"), ("assistant", "Hello!"), ("user", "ok")]
    assert guard.check_conversation(conversation).safe
    edited = [("user", "hi"), ("assistant", f"Hello! {TRIGGER}"), ("user", "ok")]
    before = backend.calls
    assert not guard.check_conversation(edited).safe
    assert backend.calls - before == 2  # the edited turn and the last one
