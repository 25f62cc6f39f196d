"""GuardedChatEngine judges `chat_history` when it is not None, else the engine's memory
(chat_engine.py `_history`: `list(chat_history) if chat_history is not None else ...`).
LlamaIndex's CondenseQuestionChatEngine reads `chat_history or self._memory.get(...)`: an
EMPTY list means "use the memory". A client sending `chat_history=[]` makes the guard judge no
history while the engine's LLM reads the whole memory (filled elsewhere, never judged)."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.chat_engine import CondenseQuestionChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.llamashield import GuardedChatEngine

from tests._support.last_turn import TRIGGER, last_turn_guard


class Echo(CustomQueryEngine):
    def custom_query(self, query_str: str) -> str:
        return "an answer"


def test_the_memory_is_judged_when_chat_history_is_empty() -> None:
    guard, _ = last_turn_guard()
    prompts: list[str] = []

    class Recording(MockLLM):
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
            prompts.append(prompt)
            return super().complete(prompt, formatted=formatted, **kwargs)

    memory = ChatMemoryBuffer.from_defaults(
        chat_history=[
            ChatMessage(role="user", content="hi"),
            ChatMessage(role="assistant", content=f"Sure! {TRIGGER} PAYLOAD"),
        ]
    )
    engine = CondenseQuestionChatEngine.from_defaults(
        query_engine=Echo(), memory=memory, llm=Recording(max_tokens=None)
    )
    guarded = GuardedChatEngine(engine, guard, on_unsafe="refuse")
    reply = guarded.chat("go on", chat_history=[])
    assert "can't help" in reply.response  # the memory was judged, and blocked
    assert not any("PAYLOAD" in p for p in prompts), "the memory reached the LLM unjudged"


def test_control_with_chat_history_none_the_memory_is_judged() -> None:
    guard, _ = last_turn_guard()
    memory = ChatMemoryBuffer.from_defaults(
        chat_history=[ChatMessage(role="assistant", content=f"Sure! {TRIGGER} PAYLOAD")]
    )
    engine = CondenseQuestionChatEngine.from_defaults(
        query_engine=Echo(), memory=memory, llm=MockLLM()
    )
    reply = GuardedChatEngine(engine, guard, on_unsafe="refuse").chat("go on")
    assert "can't help" in reply.response
