"""Moderated token streams for LlamaIndex's streaming responses (sync and async).

``llamashield.streaming`` does the windowing and pipelined checks; this adds what LlamaIndex
needs around it: the refusal as the last token, and the verdict's record (the core's
``verdict_metadata``, JSON-ready) in the response metadata. The streaming options (``window``)
are the LangChain adapter's.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import Any

from llamashield import LlamaGuard, UnsafeContentError
from llamashield._blocked import format_refusal, verdict_metadata
from llamashield.streaming import (
    AsyncModeratedStream,
    ModeratedStream,
    WindowSpec,
    amoderate_stream,
    moderate_stream,
)

__all__ = ["amoderate_tokens", "moderate_tokens"]


def _ending(
    stream: ModeratedStream[str] | AsyncModeratedStream[str],
    on_unsafe: str,
    refusal: str,
    record: dict[str, Any],
) -> str | None:
    """Record the verdict; the text to append after the released tokens, if any."""
    blocked = stream.blocked
    if blocked is None:
        if stream.verdicts:
            record["output"] = verdict_metadata(stream.verdicts[-1], stage="output")
        return None
    record["output"] = verdict_metadata(blocked, stage="output")
    if on_unsafe == "raise":
        raise UnsafeContentError(blocked, "output")
    # What was released so far was judged safe; the refusal says why the answer stops there.
    return format_refusal(refusal, blocked, stage="output")


def moderate_tokens(
    tokens: Iterator[str],
    guard: LlamaGuard,
    context: list[dict[str, Any]],
    *,
    on_unsafe: str,
    refusal: str,
    record: dict[str, Any],
    window: WindowSpec = "sentence",
) -> Generator[str, None, None]:
    stream = moderate_stream(tokens, guard, context=context, window=window, raise_on_unsafe=False)
    yield from stream
    ending = _ending(stream, on_unsafe, refusal, record)
    if ending:
        yield ending


async def amoderate_tokens(
    tokens: AsyncIterator[str],
    guard: LlamaGuard,
    context: list[dict[str, Any]],
    *,
    on_unsafe: str,
    refusal: str,
    record: dict[str, Any],
    window: WindowSpec = "sentence",
) -> AsyncGenerator[str, None]:
    stream = amoderate_stream(tokens, guard, context=context, window=window, raise_on_unsafe=False)
    async for token in stream:
        yield token
    ending = _ending(stream, on_unsafe, refusal, record)
    if ending:
        yield ending
