"""LangChain glue shared by the guarded runnables and chat model: traced checks, and the
pieces of their stream plans (the wrapped runnable's stream, its moderation, a merged input)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from langchain_llamashield._child_callbacks import acall_in, aiterate_in, call_in, iterate_in
from langchain_llamashield._inputs import judged
from langchain_llamashield._watch import observed
from llamashield.integration import END, Call, JudgedContent, Next, Plan, Stream, StreamModeration
from llamashield.streaming import WindowSpec

if TYPE_CHECKING:
    from langchain_llamashield._buffered_callbacks import CallbackBuffer
    from llamashield import LlamaGuard, Verdict

__all__ = [
    "TracedCheck",
    "checked",
    "input_stream",
    "merged_input",
    "moderation",
    "wrapped_call",
    "wrapped_stream",
]


class TracedCheck:
    """The guard's check of a whole conversation, traced: each verdict shows up in traces as a
    "LlamaGuard" run with the judged conversation as input and the ``Verdict`` as output.

    Every message that came from outside is judged (``LlamaGuard.check_conversation``); with
    ``answer=True`` the last message is the guarded model's own answer and the messages before
    it were judged as this call's input, so only the answer is new.

    A run costs about four times an instant check (callback manager, run ids, signature
    inspection on every call), so it is made only when a handler would see it (``observed``);
    otherwise the guard is called directly. The verdict and errors are the same either way.
    """

    __slots__ = ("_answer", "_guard")

    def __init__(self, guard: LlamaGuard, *, answer: bool = False) -> None:
        self._guard = guard
        self._answer = answer

    def _trusted(self, conversation: Any) -> range:
        if not self._answer or not isinstance(conversation, Sequence):
            return range(0)
        return range(len(conversation) - 1)

    def _check(self, conversation: Any) -> Verdict:
        return self._guard.check_conversation(conversation, trusted=self._trusted(conversation))

    async def _acheck(self, conversation: Any) -> Verdict:
        trusted = self._trusted(conversation)
        return await self._guard.acheck_conversation(conversation, trusted=trusted)

    def _traced(self) -> Runnable[Any, Verdict]:
        return RunnableLambda(self._check, afunc=self._acheck, name="LlamaGuard")

    def invoke(self, conversation: Any, config: RunnableConfig | None = None) -> Verdict:
        if observed(config):
            return self._traced().invoke(conversation, config)
        return self._check(conversation)

    async def ainvoke(self, conversation: Any, config: RunnableConfig | None = None) -> Verdict:
        if observed(config):
            return await self._traced().ainvoke(conversation, config)
        return await self._acheck(conversation)


def checked(
    guard: LlamaGuard, conversation: Any, config: RunnableConfig, *, answer: bool = False
) -> Call:
    """The step that judges ``conversation``: the guard's check, as a "LlamaGuard" run where
    anyone is watching (see ``TracedCheck``)."""
    check = TracedCheck(guard, answer=answer)
    return Call(check.invoke, check.ainvoke, (conversation, config))


_NOTHING: Any = object()


class _ChunkReader:
    """Each stream chunk read once (the core's ``judged_text``) for the text and the media the
    moderated stream asks of it, one after the other: the second ask takes the first's reading
    and clears it (a chunk object yielded again, changed in between, is read again). ``key``
    picks a dict stream's value (a dict stream sends its keys in separate chunks)."""

    __slots__ = ("_chunk", "_reading", "key")

    def __init__(self, key: str | None) -> None:
        self.key = key
        self._chunk: Any = _NOTHING
        self._reading = JudgedContent("")

    def _take(self, chunk: Any) -> JudgedContent:
        if chunk is self._chunk:
            self._chunk = _NOTHING
            return self._reading
        picked = (
            chunk.get(self.key) if self.key is not None and isinstance(chunk, Mapping) else chunk
        )
        self._reading = judged(picked)  # raises UnjudgeableContent: never released unread
        self._chunk = chunk
        return self._reading

    def text(self, chunk: Any) -> str:
        return self._take(chunk).text

    def media(self, chunk: Any) -> list[Any]:
        return [part.data for part in self._take(chunk).media]


def moderation(context: Sequence[Any], *, key: str | None, window: WindowSpec) -> StreamModeration:
    """Chunks released window by window once judged as the Agent turn after ``context``
    (``key`` picks a dict stream's text; media parts meet the guard's media policy as in
    ``invoke``); blocked, the stream stops and reports it (no raise)."""
    reader = _ChunkReader(key)
    return StreamModeration(context=context, text=reader.text, media=reader.media, window=window)


def wrapped_call(
    runnable: Runnable[Any, Any], value: Any, config: RunnableConfig, kwargs: Mapping[str, Any]
) -> Call:
    """The wrapped runnable's ``invoke``/``ainvoke`` (as the driver), with ``config`` also as
    LangChain's ambient config while it runs: a ``RunnableBinding`` inside (``bind_tools``)
    would merge the ambient callbacks, which ``config`` filtered, back into its own."""

    def ainvoke() -> Awaitable[Any]:
        return acall_in(config, runnable.ainvoke(value, config, **kwargs))

    return Call(partial(call_in, config, runnable.invoke, value, config, **kwargs), ainvoke)


def wrapped_stream(
    runnable: Runnable[Any, Any],
    value: Any,
    config: RunnableConfig,
    kwargs: Mapping[str, Any],
    buffer: CallbackBuffer | None = None,
    *,
    moderated: bool,
) -> Call:
    """What opens the wrapped runnable's stream (``Stream(wrapped_stream(...))``): ``stream``
    under the sync drivers, ``astream`` under the async ones, its callback events held in
    ``buffer`` when given.

    Where its output is moderated or its events held, ``config`` (whose callbacks cannot hand
    unjudged output to anyone) is also LangChain's ambient config while it runs, as in
    ``wrapped_call``. Sync, each step runs in a context of its own (``iterate_in``); async, in
    the task that reads it alone (the moderated stream's reader, or the buffer's steps:
    ``aiterate_in`` there never touches the consumer's context). Neither moderated nor held,
    its callbacks are the ambient ones anyway, and it is read as it is.
    """
    stream = partial(runnable.stream, value, config, **kwargs)
    astream = partial(runnable.astream, value, config, **kwargs)
    if buffer is None and not moderated:
        return Call(stream, astream)
    sync, async_ = partial(iterate_in, config, stream), partial(aiterate_in, config, astream)
    if buffer is None:
        return Call(sync, async_)
    return Call(partial(buffer.iterate, sync), partial(buffer.aiterate, async_, reader=moderated))


def merged_input(chunks: Iterator[Any] | AsyncIterator[Any]) -> Plan[Any]:
    """The whole input of a ``transform``/``atransform`` call: its chunks added up (a chunk
    that cannot be added to the others replaces them, as in ``RunnableLambda``)."""
    source = yield Stream(input_stream(chunks))
    total = _NOTHING
    while (chunk := (yield Next(source))) is not END:
        if total is _NOTHING:
            total = chunk
            continue
        try:
            total = total + chunk
        except TypeError:  # not addable: the last complete value wins
            total = chunk
    if total is _NOTHING:
        raise ValueError("the guarded runnable received an empty input stream")
    return total


def input_stream(chunks: Iterator[Any] | AsyncIterator[Any]) -> Call:
    """What opens the chunks a ``transform``/``atransform`` call received, as a ``Stream``."""
    return Call(_same, None, (chunks,))


def _same(chunks: Any) -> Any:
    return chunks
