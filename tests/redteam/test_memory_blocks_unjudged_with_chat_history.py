"""GuardedChatEngine reads what the LLM will see from `memory.get()` (which carries a `Memory`'s
blocks: static facts, extracted facts, vector-retrieved messages of earlier sessions) only when
no chat_history is given (chat_engine.py `_history`: `if chat_history: return
list(chat_history), list(chat_history)`). With a non-empty chat_history, LlamaIndex's engines
`memory.set(chat_history)` and then build the prompt from `memory.get(input=...)`: the memory
blocks are inserted all the same. A client sending any one-message history makes the guard
judge only that history, while the block content reaches the LLM unjudged.

The same in guard_agent (workflow.py `GuardedAgent._input_plan`: `if not history and
isinstance(memory, BaseMemory): history = memory.get()`): `agent.run(user_msg, memory=memory,
chat_history=[...])` judges the history only, and the agent's LLM reads `memory.aget()` with
its blocks."""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.memory import Memory, StaticMemoryBlock
from llama_index.llamashield import GuardedChatEngine, guard_agent

from tests._support.last_turn import TRIGGER, last_turn_guard


def build() -> tuple[GuardedChatEngine, list[str]]:
    guard, _ = last_turn_guard()
    seen: list[str] = []

    class Recording(MockLLM):
        def chat(self, messages: Any, **kwargs: Any) -> Any:
            seen.extend(str(m.content) for m in messages)
            return ChatResponse(message=ChatMessage(role="assistant", content="ok"))

    memory = Memory.from_defaults(
        session_id="s",
        memory_blocks=[StaticMemoryBlock(name="profile", static_content=f"{TRIGGER} PAYLOAD")],
    )
    engine = SimpleChatEngine.from_defaults(llm=Recording(max_tokens=None), memory=memory)
    return GuardedChatEngine(engine, guard, on_unsafe="refuse"), seen


def test_memory_blocks_are_judged_when_a_history_is_passed() -> None:
    guarded, seen = build()
    guarded.chat("hello", chat_history=[ChatMessage(role="user", content="hi")])
    assert not any("PAYLOAD" in s for s in seen), "memory block content reached the LLM"


def test_control_without_history_the_blocks_are_judged() -> None:
    guarded, seen = build()
    reply = guarded.chat("hello")
    assert "can't help" in reply.response
    assert not any("PAYLOAD" in s for s in seen)


def memory() -> Memory:
    block = StaticMemoryBlock(name="profile", static_content=f"{TRIGGER} PAYLOAD")
    return Memory.from_defaults(session_id="s", memory_blocks=[block])


def run_agent(**kwargs: Any) -> tuple[str, list[str]]:
    seen: list[str] = []

    def answer(messages: Any, **_: Any) -> ChatMessage:
        seen.extend(str(m.content) for m in messages)
        return ChatMessage(role="assistant", content="ok")

    guard, _ = last_turn_guard()
    inner = FunctionAgent(tools=[], llm=MockFunctionCallingLLM(response_generator=answer))
    agent = guard_agent(inner, guard, on_unsafe="refuse")

    async def run() -> Any:
        return await agent.run(user_msg="and then?", memory=memory(), **kwargs)

    output = asyncio.run(run())
    return str(output.response.content), seen


def test_agent_memory_blocks_are_judged_when_a_history_is_passed() -> None:
    history = [ChatMessage(role="user", content="hi"), ChatMessage(role="assistant", content="yo")]
    _, seen = run_agent(chat_history=history)
    assert not any("PAYLOAD" in s for s in seen), "memory block content reached the agent's LLM"


def test_control_agent_without_history_the_blocks_are_judged() -> None:
    reply, seen = run_agent()
    assert "can't help" in reply
    assert not any("PAYLOAD" in s for s in seen)
