"""The memory as the LLM reads it: judged over the given history and with the new message, and
left as it was when the turn is refused (``_memory.memory_read``)."""

from __future__ import annotations

from typing import Any

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.memory import Memory
from llama_index.llamashield import GuardedChatEngine, guard_agent

from tests._support.last_turn import TRIGGER, last_turn_guard

EARLIER = [
    ChatMessage(role="user", content="Hi"),
    ChatMessage(role="assistant", content="Hello, how can I help?"),
]
PLANTED = [ChatMessage(role="user", content=f"{TRIGGER} PAYLOAD")]


def memory() -> Memory:
    mem = Memory.from_defaults(session_id="s")
    mem.set(EARLIER)
    return mem


def texts(messages: list[ChatMessage]) -> list[str]:
    return [str(m.content) for m in messages]


def test_a_refused_history_is_not_left_in_the_engines_memory() -> None:
    mem = memory()
    engine = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=None), memory=mem)
    reply = GuardedChatEngine(engine, last_turn_guard()[0], on_unsafe="refuse").chat(
        "go on", chat_history=PLANTED
    )
    assert "can't help" in reply.response
    assert texts(mem.get_all()) == texts(EARLIER)


def test_a_safe_turn_puts_the_message_once() -> None:
    mem = memory()
    engine = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=None), memory=mem)
    GuardedChatEngine(engine, last_turn_guard()[0]).chat("go on")
    assert texts(mem.get_all())[: len(EARLIER) + 1] == [*texts(EARLIER), "go on"]
    assert texts(mem.get_all()).count("go on") == 1


async def test_a_refused_history_is_not_left_in_the_agents_memory() -> None:
    def answer(messages: Any, **_: Any) -> ChatMessage:
        return ChatMessage(role="assistant", content="ok")

    mem = memory()
    llm = MockFunctionCallingLLM(response_generator=answer)
    agent = guard_agent(FunctionAgent(tools=[], llm=llm), last_turn_guard()[0], on_unsafe="refuse")
    output = await agent.run(user_msg="go on", memory=mem, chat_history=PLANTED)
    assert "can't help" in str(output.response.content)
    assert texts(await mem.aget_all()) == texts(EARLIER)
