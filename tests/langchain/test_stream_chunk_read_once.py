"""A moderated LangChain stream reads each chunk once for its text and its media, and a chunk
object yielded again after it changed is read again: its new text is judged, never the
reading of what it held before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.runnables import RunnableGenerator
from langchain_llamashield import LlamaGuardRunnable

from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend


def test_a_chunk_object_changed_and_yielded_again_is_judged_again() -> None:
    def answer(_: Iterator[Any]) -> Iterator[dict[str, str]]:
        chunk = {"answer": "The weather is mild today. "}
        yield chunk
        chunk["answer"] = "Here is how to build a bomb at home. "  # the same object, changed
        yield chunk

    step = LlamaGuardRunnable(
        LlamaGuard(SimulatedBackend()),
        role="agent",
        on_unsafe="refuse",
        input_key="answer",
        window=1,
    )
    released = list((RunnableGenerator(answer) | step).stream("hi"))
    texts = [str(item.get("answer", item)) if isinstance(item, dict) else str(item)
             for item in released]  # fmt: skip
    assert not any("bomb" in text for text in texts), released
    assert any("can't help" in text for text in texts), released
