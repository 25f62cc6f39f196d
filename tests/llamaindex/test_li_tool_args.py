"""LlamaIndex ``guard_tool``: the keyword arguments a ``FunctionTool`` receives are judged, also
under a ``fn_schema`` with pydantic aliases (issue 20, item 5: the LangChain hole, checked
here)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llama_index.core.tools import FunctionTool
from llama_index.llamashield import guard_tool
from pydantic import BaseModel, ConfigDict, Field

from llamashield import LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend
from tests._support.judged import BOMB, JudgedTexts, received_strings


class SearchArgs(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    query: str = Field(alias="q")
    note: str | None = Field(default=None, alias="n")


def _tool(received: list[dict[str, Any]]) -> FunctionTool:
    def search(**kwargs: Any) -> str:
        """Search."""
        received.append(kwargs)
        return "Volcanoes are mountains."

    return FunctionTool.from_defaults(fn=search, name="search", fn_schema=SearchArgs)


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=20).filter(
    lambda s: s.strip() == s and s != ""
)
keys = st.sampled_from(["q", "query", "n", "note", "extra"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kwargs=st.dictionaries(keys, words, min_size=1, max_size=4), use_async=st.booleans())
def test_every_string_the_function_receives_was_judged(
    kwargs: dict[str, str], use_async: bool
) -> None:
    backend = JudgedTexts()
    received: list[dict[str, Any]] = []
    guarded = guard_tool(_tool(received), LlamaGuard(backend), check_output=False)
    if use_async:
        asyncio.run(guarded.acall(**kwargs))
    else:
        guarded.call(**kwargs)
    assert len(received) == 1
    judged = "\n".join(backend.judged)
    for text in received_strings(received[0]):
        assert text in judged


@pytest.mark.parametrize("key", ["q", "query"])
def test_an_aliased_unsafe_argument_never_reaches_the_function(key: str) -> None:
    received: list[dict[str, Any]] = []
    guarded = guard_tool(_tool(received), LlamaGuard(SimulatedBackend()))
    with pytest.raises(UnsafeContentError):
        guarded.call(**{key: BOMB})
    assert received == []
