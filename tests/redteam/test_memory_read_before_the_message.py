"""GuardedChatEngine and guard_agent read what the LLM will see of the memory BEFORE the turn's
message is in it (chat_engine.py `_history` and workflow.py `GuardedAgent._input_plan`:
`memory.get()`/`aget()` up front), while the engine or agent first puts the user's message
and then reads `memory.get()`. A `Memory`'s blocks are pulled with the messages at hand:
LlamaIndex's VectorMemoryBlock retrieves earlier sessions' messages similar to the latest ones,
so the new message decides what is recalled. Asked a question that recalls an unsafe note, the
guard judged the memory as it was without that question (nothing recalled), and the note
reaches the LLM unjudged. `Recall` below stands in for a VectorMemoryBlock (no embeddings
offline): it recalls a note when the last message mentions a recipe."""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.memory import Memory
from llama_index.core.memory.memory import BaseMemoryBlock
from llama_index.llamashield import GuardedChatEngine, guard_agent

from tests._support.last_turn import TRIGGER, last_turn_guard

QUESTION = "what was that recipe again?"


class Recall(BaseMemoryBlock[str]):
    """Notes of earlier sessions, recalled by what the user asks now."""

    async def _aget(self, messages: list[ChatMessage] | None = None, **kwargs: Any) -> str:
        last = str(messages[-1].content) if messages else ""
        return f"Earlier note: {TRIGGER} PAYLOAD" if "recipe" in last else ""

    async def _aput(self, messages: list[ChatMessage]) -> None:
        return None


def memory() -> Memory:
    return Memory.from_defaults(session_id="s", memory_blocks=[Recall(name="recall")])


def test_the_chat_engine_judges_what_the_message_recalls() -> None:
    seen: list[str] = []

    class Recording(MockLLM):
        def chat(self, messages: Any, **kwargs: Any) -> Any:
            seen.extend(str(m.content) for m in messages)
            return ChatResponse(message=ChatMessage(role="assistant", content="ok"))

    guard, _ = last_turn_guard()
    engine = SimpleChatEngine.from_defaults(llm=Recording(max_tokens=None), memory=memory())
    GuardedChatEngine(engine, guard, on_unsafe="refuse").chat(QUESTION)
    assert not any("PAYLOAD" in s for s in seen), "a recalled note reached the LLM unjudged"


def test_the_agent_judges_what_the_message_recalls() -> None:
    seen: list[str] = []

    def answer(messages: Any, **_: Any) -> ChatMessage:
        seen.extend(str(m.content) for m in messages)
        return ChatMessage(role="assistant", content="ok")

    guard, _ = last_turn_guard()
    llm = MockFunctionCallingLLM(response_generator=answer)
    agent = guard_agent(FunctionAgent(tools=[], llm=llm), guard, on_unsafe="refuse")

    async def run() -> Any:
        return await agent.run(user_msg=QUESTION, memory=memory())

    asyncio.run(run())
    assert not any("PAYLOAD" in s for s in seen), "a recalled note reached the LLM unjudged"


def test_control_a_note_already_recalled_is_judged() -> None:
    """The same note, recalled by the history already in memory, is judged and blocked."""
    guard, _ = last_turn_guard()
    mem = memory()
    mem.put(ChatMessage(role="user", content="the recipe, please"))
    engine = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=None), memory=mem)
    reply = GuardedChatEngine(engine, guard, on_unsafe="refuse").chat("go on")
    assert "can't help" in reply.response
