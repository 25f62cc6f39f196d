"""Moderated token streams for streaming responses (sync and async).

Interim: the whole answer is judged before any of it is released. It never leaks unsafe text,
but it does not stream; the windowed version from ``llamashield.streaming`` replaces it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from llamashield import LlamaGuard, UnsafeContentError, Verdict

__all__ = ["amoderate_tokens", "moderate_tokens"]


def _release(text: str, verdict: Verdict, on_unsafe: str, refusal: str) -> str:
    if verdict.safe:
        return text
    if on_unsafe == "raise":
        raise UnsafeContentError(verdict, "output")
    return refusal


def moderate_tokens(
    tokens: Iterator[str],
    guard: LlamaGuard,
    context: list[dict[str, str]],
    *,
    on_unsafe: str,
    refusal: str,
    record: dict[str, Any],
) -> Iterator[str]:
    text = "".join(tokens)
    record["output"] = verdict = guard.check([*context, {"role": "assistant", "content": text}])
    released = _release(text, verdict, on_unsafe, refusal)
    if released:
        yield released


async def amoderate_tokens(
    tokens: AsyncIterator[str],
    guard: LlamaGuard,
    context: list[dict[str, str]],
    *,
    on_unsafe: str,
    refusal: str,
    record: dict[str, Any],
) -> AsyncIterator[str]:
    text = "".join([token async for token in tokens])
    record["output"] = verdict = await guard.acheck([*context, {"role": "assistant", "content": text}])
    released = _release(text, verdict, on_unsafe, refusal)
    if released:
        yield released
