"""Every reach into LlamaIndex's private attributes, in one place, each with why.

LlamaIndex has no public API for these; each function reads or writes one private attribute
and falls back to the public behaviour when it is missing. Checked against
``llama-index-core`` 0.14.25 (``tests/llamaindex/test_li_compat.py`` fails when a release
moves one of them).
"""

from __future__ import annotations

from typing import Any

from llama_index.core.memory import BaseMemory

__all__ = ["CHECKED_WITH", "clear_field_defaults", "engine_streams", "memory_of"]

CHECKED_WITH = {"llama-index-core": "0.14.25"}


def engine_streams(engine: Any) -> bool:
    """Whether a query engine answers with streaming responses.

    ``RetrieverQueryEngine`` keeps the setting on its synthesizer's private ``_streaming``;
    engines built otherwise may expose a public ``streaming`` attribute.
    """
    synthesizer = getattr(engine, "_response_synthesizer", None)
    return bool(getattr(synthesizer, "_streaming", False) or getattr(engine, "streaming", False))


def memory_of(engine: Any) -> BaseMemory | None:
    """A chat engine's memory (``SimpleChatEngine``, ``ContextChatEngine``... keep it in the
    private ``_memory``; some engines expose ``memory``), to take a blocked turn back out."""
    for name in ("_memory", "memory"):
        memory = getattr(engine, name, None)
        if isinstance(memory, BaseMemory):
            return memory
    return None


def clear_field_defaults(tool: Any) -> None:
    """A guarded ``FunctionTool`` hands its calls to the wrapped tool, which applies its own
    defaults: ``FunctionTool`` keeps them in the private ``_field_defaults``, cleared here so
    they are not applied twice."""
    if hasattr(tool, "_field_defaults"):
        tool._field_defaults = {}
