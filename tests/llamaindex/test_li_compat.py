"""The LlamaIndex shim (_compat.py): each private reach still finds what it needs."""

from __future__ import annotations

import importlib.metadata

from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.memory import BaseMemory
from llama_index.core.tools import FunctionTool
from llama_index.llamashield import _compat

from tests.llamaindex.li_helpers import build_index


def test_checked_versions() -> None:
    for package, checked in _compat.CHECKED_WITH.items():
        installed = importlib.metadata.version(package)
        assert installed.split(".")[:2] == checked.split(".")[:2], (package, installed)


def test_engine_streams_reads_the_synthesizer() -> None:
    index = build_index(["Paris is in France."])
    assert _compat.engine_streams(index.as_query_engine(llm=MockLLM(), streaming=True))
    assert not _compat.engine_streams(index.as_query_engine(llm=MockLLM()))


def test_memory_of_a_chat_engine() -> None:
    assert isinstance(_compat.memory_of(SimpleChatEngine.from_defaults(llm=MockLLM())), BaseMemory)
    assert _compat.memory_of(object()) is None


def test_clear_field_defaults() -> None:
    def greet(name: str, greeting: str = "hi") -> str:
        """Greet."""
        return f"{greeting} {name}"

    tool = FunctionTool.from_defaults(greet)
    assert hasattr(tool, "_field_defaults")
    _compat.clear_field_defaults(tool)
    assert tool._field_defaults == {}
