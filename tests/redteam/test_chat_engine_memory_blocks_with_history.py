"""GuardedChatEngine reads what the LLM will see from `memory.get()` (which carries a `Memory`'s
blocks: static facts, extracted facts, vector-retrieved messages of earlier sessions) only when
no chat_history is given (chat_engine.py `_history`: `if chat_history: return
list(chat_history), list(chat_history)`). With a non-empty chat_history, LlamaIndex's engines
`memory.set(chat_history)` and then build the prompt from `memory.get(input=...)`: the memory
blocks are inserted all the same. A client sending any one-message history makes the guard
judge only that history, while the block content reaches the LLM unjudged."""

from __future__ import annotations

from typing import Any

import pytest
from _helpers import TRIGGER, last_turn_guard
from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.memory import Memory, StaticMemoryBlock
from llama_index.llamashield import GuardedChatEngine


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
    engine = SimpleChatEngine.from_defaults(llm=Recording(), memory=memory)
    return GuardedChatEngine(engine, guard, on_unsafe="refuse"), seen


@pytest.mark.xfail(strict=True, reason="escape: memory blocks unjudged when chat_history given")
def test_memory_blocks_are_judged_when_a_history_is_passed() -> None:
    guarded, seen = build()
    guarded.chat("hello", chat_history=[ChatMessage(role="user", content="hi")])
    assert not any("PAYLOAD" in s for s in seen), "memory block content reached the LLM"


def test_control_without_history_the_blocks_are_judged() -> None:
    guarded, seen = build()
    reply = guarded.chat("hello")
    assert "can't help" in reply.response
    assert not any("PAYLOAD" in s for s in seen)
