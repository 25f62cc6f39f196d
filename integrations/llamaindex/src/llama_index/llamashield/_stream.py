"""Moderated answers for LlamaIndex's streaming responses: stream plans, read sync or async.

``moderated_answer`` is the one plan of a guarded stream (the query engine's and the chat
engine's): it opens the inner response's tokens, releases them window by window once judged
(``llamashield.streaming``, through the core's ``Stream`` step), records the verdict (the
core's ``verdict_metadata``), and on a block ends with the refusal or raises. Driven by
``stream_plan`` it is a generator for ``response_gen``; by ``astream_plan``, an async generator
for ``async_response_gen``: the same decisions either way.

Example::

    tokens = moderated_answer(tokens_of(response), StreamModeration(context=question),
                              shield, records)
    StreamingResponse(stream_plan(tokens, guard), ...)
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from operator import attrgetter, methodcaller
from typing import Any, TypeAlias

from llama_index.llamashield._on_unsafe import Shield

from llamashield import LlamaGuard
from llamashield.integration import (
    END,
    Call,
    Emit,
    Next,
    Plan,
    Stream,
    StreamModeration,
    astream_plan,
    stream_plan,
    unsafe_stream_outcome,
    verdict_metadata,
)

__all__ = ["Driver", "Records", "flavoured", "moderated_answer", "once", "tokens_of"]

Driver: TypeAlias = Callable[[Plan[Any], LlamaGuard], Iterator[Any] | AsyncIterator[Any]]
"""``stream_plan`` or ``astream_plan``."""
Records: TypeAlias = dict[str, Any]  # stage -> the verdict's record (llamashield.verdict_metadata)

# Once text has streamed, a reroute cannot take it back: a stream that turns unsafe raises
# under "raise" and ends with the refusal otherwise.
_ENDINGS = {"refuse": str, "reroute": str}  # str(Blocked) is its refusal


def tokens_of(response: Any) -> Call:
    """A streaming response's tokens: ``response_gen`` under the sync drivers,
    ``async_response_gen()`` under the async ones."""
    return Call(attrgetter("response_gen"), methodcaller("async_response_gen"), (response,))


def moderated_answer(
    tokens: Call,
    moderation: StreamModeration,
    shield: Shield,
    records: Records,
    convert: Callable[[str], Any] | None = None,
    stopped: Callable[[], bool] = lambda: False,
    released: Callable[[], None] = lambda: None,
) -> Plan[None]:
    """Emit the judged tokens (through ``convert``) until the stream ends, is blocked, or
    ``stopped()`` says its turn is over; ``records["output"]`` gets the final verdict only
    once the stream ran to its end (or was blocked), and ``released()`` runs once the whole
    answer was judged safe (to hand out what came with it: its sources)."""
    source = yield Stream(tokens, moderation)
    while (token := (yield Next(source))) is not END:
        if stopped():
            return
        yield Emit(token if convert is None else convert(token))
    verdict = source.blocked
    if verdict is None:
        if source.verdicts:
            records["output"] = verdict_metadata(source.verdicts[-1], stage="output")
        released()
        return
    records["output"] = verdict_metadata(verdict, stage="output")
    # What was released so far was judged safe; the refusal says why the answer stops there.
    blocked = shield.blocked(verdict, "output", source.text)
    yield from unsafe_stream_outcome(shield.action, blocked, _ENDINGS, convert)


def once(item: Any) -> Plan[None]:
    """A stream of one item (a refusal where a streaming response is expected)."""
    yield Emit(item)


def flavoured(build: Callable[..., Any], *args: Any) -> Call:
    """``build(*args, drive)``, with ``drive`` the stream driver of the caller's flavour:
    ``stream_plan`` under the sync drivers, ``astream_plan`` under the async ones, so that a
    streamed answer ``build`` makes is one the caller's method can read."""
    return Call(functools.partial(build, *args, stream_plan),
                functools.partial(build, *args, astream_plan))  # fmt: skip
