"""Moderated token streams for LlamaIndex's streaming responses (sync and async).

``llamashield.streaming`` does the windowing and pipelined checks; this adds what LlamaIndex
needs around it: the refusal as the last token, and the verdict's record (the core's
``verdict_metadata``, JSON-ready) in the response metadata. The streaming options (``window``)
are the LangChain adapter's.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from llamashield import LlamaGuard, UnsafeContentError
from llamashield.integration import format_refusal, verdict_metadata
from llamashield.streaming import (
    AsyncModeratedStream,
    ModeratedStream,
    WindowSpec,
    amoderate_stream,
    moderate_stream,
)

__all__ = ["TokenModeration", "amoderate_tokens", "moderate_tokens"]


@dataclass(frozen=True)
class TokenModeration:
    """How a token stream is moderated: the guard, the conversation before the answer, what an
    unsafe window does (``"raise"`` or ``"refuse"``), the refusal template, the dict the
    verdict's record goes into, and the window (as in the LangChain adapter)."""

    guard: LlamaGuard
    context: list[dict[str, Any]]
    on_unsafe: str
    refusal: str
    record: dict[str, Any]
    window: WindowSpec = "sentence"


def _ending(
    stream: ModeratedStream[str] | AsyncModeratedStream[str], how: TokenModeration
) -> str | None:
    """Record the verdict; the text to append after the released tokens, if any."""
    blocked = stream.blocked
    if blocked is None:
        if stream.verdicts:
            how.record["output"] = verdict_metadata(stream.verdicts[-1], stage="output")
        return None
    how.record["output"] = verdict_metadata(blocked, stage="output")
    if how.on_unsafe == "raise":
        raise UnsafeContentError(blocked, "output")
    # What was released so far was judged safe; the refusal says why the answer stops there.
    return format_refusal(how.refusal, blocked, stage="output")


def moderate_tokens(tokens: Iterator[str], how: TokenModeration) -> Generator[str, None, None]:
    stream = moderate_stream(tokens, how.guard, context=how.context, window=how.window,
                             raise_on_unsafe=False)  # fmt: skip
    yield from stream
    if ending := _ending(stream, how):
        yield ending


async def amoderate_tokens(
    tokens: AsyncIterator[str], how: TokenModeration
) -> AsyncGenerator[str, None]:
    stream = amoderate_stream(tokens, how.guard, context=how.context, window=how.window,
                              raise_on_unsafe=False)  # fmt: skip
    async for token in stream:
        yield token
    if ending := _ending(stream, how):
        yield ending
