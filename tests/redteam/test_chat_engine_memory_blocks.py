"""GuardedChatEngine judges the history as `memory.get_all()`/`aget_all()` returns it (the chat
messages), while the inner engine's LLM reads `memory.get(input=...)`: for LlamaIndex's
`Memory`, that also carries the content of its memory blocks (static facts, extracted facts,
messages retrieved from a vector store of earlier sessions), inserted into the messages.
That content, "a memory filled elsewhere", reaches the LLM unjudged."""

from __future__ import annotations

from typing import Any

from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.memory import Memory, StaticMemoryBlock
from llama_index.llamashield import GuardedChatEngine

from tests._support.last_turn import TRIGGER, last_turn_guard


def test_memory_block_content_is_judged() -> None:
    guard, _ = last_turn_guard()
    seen: list[str] = []

    class Recording(MockLLM):
        def chat(self, messages: Any, **kwargs: Any) -> Any:
            seen.extend(str(m.content) for m in messages)
            return super().chat(messages, **kwargs)

    memory = Memory.from_defaults(
        session_id="s",
        memory_blocks=[
            # e.g. a user's saved profile, or facts kept from an earlier session
            StaticMemoryBlock(name="profile", static_content=f"Known: {TRIGGER} PAYLOAD")
        ],
    )
    engine = SimpleChatEngine.from_defaults(llm=Recording(max_tokens=None), memory=memory)
    GuardedChatEngine(engine, guard, on_unsafe="refuse").chat("hello")
    assert not any("PAYLOAD" in s for s in seen), "memory block content reached the LLM"
