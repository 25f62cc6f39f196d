"""What an LLM will read of a LlamaIndex memory this turn, for the guard to judge first.

A ``Memory`` hands its blocks (static facts, extracted facts, messages recalled from earlier
sessions) to the LLM with its messages, and a block may pull its content by the latest
messages, the new one included. Engines and agents read it after putting the new message
(``SimpleChatEngine``, agents) or with it as ``input`` (``ContextChatEngine``,
``CondensePlusContextChatEngine``), and a given ``chat_history`` replaces the stored messages
before the read. So the memory is read both ways, over the history the LLM will have: as it
stands, and with the new message. Nothing is put: the engine or agent puts the message itself.

Example::

    before, read = yield from memory_read(memory, chat_history, "what was that recipe?")
    ...                                   # judge read; on unsafe, memory.set(before)
"""

from __future__ import annotations

from collections.abc import Sequence

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.memory import BaseMemory

from llamashield.integration import Call, Plan

__all__ = ["memory_read"]


def memory_read(
    memory: BaseMemory, chat_history: Sequence[ChatMessage] | None, message: str
) -> Plan[tuple[list[ChatMessage], list[ChatMessage]]]:
    """The memory's messages before the turn (to restore when the turn is blocked) and what
    the LLM will read of it: ``get()``, then what ``get(input=message)`` adds (blocks pulled by
    the new message). A non-empty ``chat_history`` is set first, as engines and agents do;
    restore ``before`` when the turn is refused."""
    before = yield Call(memory.get_all, memory.aget_all)
    if chat_history:
        yield Call(memory.set, memory.aset, (list(chat_history),))
    read = list((yield Call(memory.get, memory.aget)))
    if message:
        with_message = yield Call(memory.get, memory.aget, kwargs={"input": message})
        read += [m for m in with_message if m not in read]
    return list(before), read
