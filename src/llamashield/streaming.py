"""Moderate a stream of generated text as it streams: nothing unsafe ever reaches the consumer.

Chunks from the model are held back until judged. They are grouped into *windows* (a sentence,
or N characters; a window is always made of whole chunks) and each window is judged as the
Agent turn made of everything generated so far, after the conversation's user input. A window's
chunks are released once its verdict (and every earlier window's) is safe; the tail is judged
before the stream ends. Checks run while the model keeps generating, so a safe stream finishes
about one guard latency after the model does, not one latency per window. On an unsafe verdict
the stream stops, the upstream generator is closed, and ``UnsafeContentError(stage="output")``
is raised (or, with ``raise_on_unsafe=False``, the iteration just ends and ``.blocked`` says why).

Concurrency: the sync driver reads the source on the consumer's thread and judges on worker
threads; the async driver reads the source in its own task (the model never waits for the
consumer) and judges in tasks. At most ``max_in_flight`` checks run at once; windows completed
meanwhile are judged together. Text released is final: a window judged safe is not taken back
when a later window (judged with it as context) turns out unsafe.

Shadow mode (``guard.shadow``): every chunk is released as it arrives, as if unguarded, and
its window is still judged and recorded; the stream ends once the last verdict is in.

Framework-agnostic: items can be ``str`` or any chunk type (pass ``text=`` to read its text), so
the LangChain and LlamaIndex adapters release their own chunk objects unchanged.

Example::

    from llamashield import LlamaGuard
    from llamashield.backends import SimulatedBackend
    from llamashield.streaming import moderate_stream, amoderate_stream

    guard = LlamaGuard(SimulatedBackend())
    stream = moderate_stream(llm_tokens(), guard, context="Tell me a story")
    for text in stream:                 # raises UnsafeContentError before any unsafe text
        print(text, end="")
    stream.verdicts                     # one Verdict per judged window

    async for text in amoderate_stream(allm_tokens(), guard, context=question, window=200):
        ...
"""

from __future__ import annotations

import asyncio
import contextvars
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from llamashield import _telemetry
from llamashield._exceptions import UnsafeContentError

if TYPE_CHECKING:
    from llamashield._guard import LlamaGuard
    from llamashield._verdict import Verdict

__all__ = [
    "AsyncModeratedStream",
    "ModeratedStream",
    "Schedule",
    "StreamWindows",
    "Window",
    "amoderate_stream",
    "chunk_text",
    "moderate_stream",
]

T = TypeVar("T")

WindowSpec = Literal["sentence"] | int

# A sentence ends at . ! ? (or their CJK forms, an ellipsis) followed by space or the end of what
# has arrived, or at a line break. A false end ("3." of "3.14") only makes a window smaller.
_SENTENCE_END = re.compile(r"[.!?\u2026\u3002\uff01\uff1f][\"')\]]*(?:\s|$)|\n")
_ENDS_SENTENCE = re.compile(r"(?:[.!?\u2026\u3002\uff01\uff1f][\"')\]]*|\n)\s*$")


def chunk_text(item: Any) -> str:
    """The text of a stream item: a ``str`` itself, else its ``.content`` when that is a str."""
    if isinstance(item, str):
        return item
    content = getattr(item, "content", None)
    if isinstance(content, str):
        return content
    raise TypeError(
        f"cannot read text from a {type(item).__name__} stream item: pass text=<function "
        "returning the item's text> to moderate_stream()/amoderate_stream()"
    )


@dataclass
class Window(Generic[T]):
    """A run of whole chunks judged together; ``start:end`` is its span in the whole answer."""

    index: int
    items: list[T] = field(default_factory=list)
    start: int = 0
    end: int = 0
    final: bool = False
    has_media: bool = False  # an item of it carried media (judged even without new words)

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass
class Schedule(Generic[T]):
    """What a stream's driver does next: judge ``launch`` (in order), hand ``release`` to the
    consumer."""

    launch: list[Window[T]] = field(default_factory=list)
    release: list[T] = field(default_factory=list)


class StreamWindows(Generic[T]):
    """The pure bookkeeping of a moderated stream (no I/O): windows, verdicts, what to release.

    Drivers call ``feed`` per chunk, ``finish`` at the end of the source and ``settle`` per
    verdict; each returns a ``Schedule``: windows to judge (``conversation(window)`` gives the
    conversation to send) and items now safe to release, in order. At most ``max_in_flight``
    windows are judged at once; windows completed meanwhile are merged and judged together when a
    check returns, so a fast model never queues more guard calls than that. The tail is launched
    at once whatever the limit, so the stream ends one guard latency after the model does.

    Example::

        windows = StreamWindows(context="hi", window=20)
        step = windows.feed("Hello there, how are you? ", "Hello there, how are you? ")
        window = step.launch[0]
        windows.conversation(window)    # [{'role': 'user', ...}, {'role': 'assistant', ...}]
        windows.settle(window, guard.check(windows.conversation(window))).release
    """

    def __init__(
        self,
        *,
        context: str | Sequence[Any] | None = None,
        window: WindowSpec = "sentence",
        min_window_chars: int = 16,
        max_window_chars: int = 400,
        max_in_flight: int = 4,
        max_context_chars: int | None = 16_000,
        shadow: bool = False,
    ) -> None:
        if window != "sentence" and not (isinstance(window, int) and window >= 1):
            raise ValueError(
                f"window must be 'sentence' or a number of characters >= 1, got {window!r}"
            )
        if not (isinstance(max_in_flight, int) and max_in_flight >= 1):
            raise ValueError(f"max_in_flight must be an int >= 1, got {max_in_flight!r}")
        if max_window_chars < 1 or min_window_chars < 0:
            raise ValueError("max_window_chars must be >= 1 and min_window_chars >= 0")
        if max_context_chars is not None and max_context_chars < 1:
            raise ValueError(f"max_context_chars must be >= 1 or None, got {max_context_chars!r}")
        self.context: list[Any] = _context_messages(context)
        self.window = window
        self.min_window_chars = min_window_chars
        self.max_window_chars = max_window_chars
        self.max_in_flight = max_in_flight
        self.max_context_chars = max_context_chars
        # Shadow mode: items are released as fed (windows carry no items), still judged.
        self.shadow = shadow
        self._released_end = 0  # characters handed to the consumer so far
        self.verdicts: list[Verdict] = []
        self.blocked: Verdict | None = None
        self.ended = False
        self._answer: list[str] = []
        self._length = 0
        self._open: Window[T] = Window(0)
        self._queued: Window[T] | None = None  # complete, waiting for a free check slot
        self._in_flight: set[int] = set()
        self._judged: dict[int, Window[T]] = {}  # safe, waiting for an earlier window
        self._next_index = 1
        self._open_pieces: list[str] = []
        self._joined: str | None = ""
        self._media: list[tuple[int, Any]] = []  # (answer length when fed, media part)

    # -- inputs -----------------------------------------------------------------------------

    def feed(self, item: T, text: str, media: Sequence[Any] = ()) -> Schedule[T]:
        """Add one chunk (its text, and its media parts: images... a model streamed, which the
        guard's media policy decides with the text); return the windows to judge now (none or
        one; none once blocked)."""
        self._require_open()
        if text:
            self._answer.append(text)
            self._open_pieces.append(text)
            self._length += len(text)
            self._joined = None
        if media:
            self._media.extend((self._length, part) for part in media)
            self._open.has_media = True
        if self.shadow:
            self._released_end = self._length
        else:
            self._open.items.append(item)
        self._open.end = self._length
        passed = [item] if self.shadow else []
        if self.blocked is not None or not self._window_complete():
            return Schedule(release=passed)
        completed = self._close_open()
        if self._queued is not None:
            completed = self._merge(self._queued, completed)
            self._queued = None
        step = self._schedule(completed, force=False)
        step.release[:0] = passed
        return step

    def finish(self) -> Schedule[T]:
        """The source ended: judge the tail (with anything queued) now, whatever the limit."""
        self._require_open()
        self.ended = True
        if self.blocked is not None:  # nothing is judged or released after a block
            return Schedule()
        tail = self._close_open()
        if self._queued is not None:
            tail = self._merge(self._queued, tail)
            self._queued = None
        tail.final = True
        if not tail.items and not tail.size and not tail.has_media:
            return Schedule(release=self._collect())
        return self._schedule(tail, force=True)

    def settle(self, window: Window[T], verdict: Verdict) -> Schedule[T]:
        """Record ``window``'s verdict; unsafe blocks the stream for good (``.blocked``)."""
        self._in_flight.discard(window.index)
        if self.blocked is not None:
            return Schedule()
        self.verdicts.append(verdict)
        if not verdict.safe:
            self.blocked = verdict
            self._judged.clear()
            self._queued = None
            _telemetry.note_stream(verdict, held_back=0, withheld=self._length - self._released_end)
            return Schedule()
        _telemetry.note_stream(verdict, held_back=0 if self.shadow else window.size, withheld=0)
        self._judged[window.index] = window
        step = Schedule[T](release=self._collect())
        if self._queued is not None and len(self._in_flight) < self.max_in_flight:
            queued, self._queued = self._queued, None
            more = self._schedule(queued, force=False)
            step.launch.extend(more.launch)
            step.release.extend(more.release)
        return step

    # -- queries ----------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """Everything generated so far (released or not)."""
        if self._joined is None:
            self._joined = "".join(self._answer)
            self._answer = [self._joined]
        return self._joined

    @property
    def done(self) -> bool:
        """True once the source ended and every window was released, or the stream blocked."""
        return self.blocked is not None or (
            self.ended and not self._in_flight and self._queued is None and not self._judged
        )

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def conversation(self, window: Window[T]) -> list[Any]:
        """The conversation judging ``window``: the context, then the answer up to its end."""
        answer = self.text[: window.end]
        if self.max_context_chars is not None and len(answer) > self.max_context_chars:
            # Earlier text was judged with its own window; keeping only the recent part keeps
            # the prompt inside the model's context without skipping any new text.
            answer = answer[-max(self.max_context_chars, window.size) :]
        parts = [part for fed, part in self._media if fed <= window.end]
        content = [{"type": "text", "text": answer}, *parts] if parts else answer
        return [*self.context, {"role": "assistant", "content": content}]

    # -- internals --------------------------------------------------------------------------

    def _require_open(self) -> None:
        if self.ended:
            raise RuntimeError("the stream already finished")

    def _window_complete(self) -> bool:
        size = self._open.size
        if self.window == "sentence":
            if size >= self.max_window_chars:
                return True
            if size < max(self.min_window_chars, 1):
                return False
            # Close right after a sentence end: the text ends with one, or the newest chunk
            # has one inside it. An earlier, too-short sentence never closes a window late.
            opened = "".join(self._open_pieces)
            if _ENDS_SENTENCE.search(opened):
                return True
            newest = len(self._open_pieces[-1]) if self._open_pieces else 0
            return _SENTENCE_END.search(opened, len(opened) - newest) is not None
        return size >= self.window

    def _close_open(self) -> Window[T]:
        closed = self._open
        self._open_pieces = []
        self._open = Window(self._next_index, start=self._length, end=self._length)
        self._next_index += 1
        return closed

    @staticmethod
    def _merge(first: Window[T], second: Window[T]) -> Window[T]:
        items = [*first.items, *second.items]
        media = first.has_media or second.has_media
        return Window(first.index, items, first.start, second.end, has_media=media)

    def _schedule(self, window: Window[T], *, force: bool) -> Schedule[T]:
        if not self.text[window.start : window.end].strip() and not window.has_media:
            # No new words: everything before was judged already, nothing to ask the guard.
            self._judged[window.index] = window
            return Schedule(release=self._collect())
        if not force and len(self._in_flight) >= self.max_in_flight:
            self._queued = window
            return Schedule()
        self._in_flight.add(window.index)
        return Schedule(launch=[window])

    def _collect(self) -> list[T]:
        released: list[T] = []
        # Windows are numbered in order, but merging skips numbers: release by position.
        while self._judged:
            first = min(self._judged)
            if any(index < first for index in self._in_flight) or (
                self._queued is not None and self._queued.index < first
            ):
                break
            window = self._judged.pop(first)
            released.extend(window.items)
            self._released_end = max(self._released_end, window.end)
        return released


def _context_messages(context: str | Sequence[Any] | None) -> list[Any]:
    if context is None:
        return []
    if isinstance(context, str):
        return [{"role": "user", "content": context}] if context else []
    return list(context)


class _ModeratedStreamBase(Generic[T]):
    def __init__(
        self,
        guard: LlamaGuard,
        *,
        context: str | Sequence[Any] | None,
        text: Callable[[T], str] | None,
        media: Callable[[T], Sequence[Any]] | None,
        window: WindowSpec,
        min_window_chars: int,
        max_window_chars: int,
        max_in_flight: int,
        max_context_chars: int | None,
        raise_on_unsafe: bool,
        stage: str,
    ) -> None:
        self.guard = guard
        self.windows: StreamWindows[T] = StreamWindows(
            context=context,
            window=window,
            min_window_chars=min_window_chars,
            max_window_chars=max_window_chars,
            max_in_flight=max_in_flight,
            max_context_chars=max_context_chars,
            shadow=getattr(guard, "shadow", False),
        )
        self._text: Callable[[T], str] = text or chunk_text
        self._media = media
        self.raise_on_unsafe = raise_on_unsafe
        self.stage = stage
        self._started = False

    @property
    def verdicts(self) -> list[Verdict]:
        """Verdicts of the judged windows, in the order they came back."""
        return self.windows.verdicts

    @property
    def blocked(self) -> Verdict | None:
        """The unsafe verdict that stopped the stream, or None."""
        return self.windows.blocked

    @property
    def text(self) -> str:
        """Everything the model generated (including what was held back)."""
        return self.windows.text

    def _feed(self, item: T) -> Schedule[T]:
        media = self._media(item) if self._media is not None else ()
        return self.windows.feed(item, self._text(item), media)

    def _start(self) -> None:
        if self._started:
            raise RuntimeError("a moderated stream can be iterated only once")
        self._started = True

    def _raise_if_blocked(self) -> None:
        if self.blocked is not None and self.raise_on_unsafe:
            raise UnsafeContentError(self.blocked, stage=self.stage)


class ModeratedStream(_ModeratedStreamBase[T]):
    """A sync iterator releasing the chunks of ``source`` once judged safe; see the module doc.

    Guard calls run on worker threads while this thread keeps reading ``source``.
    """

    def __init__(self, source: Iterable[T], guard: LlamaGuard, **options: Any) -> None:
        super().__init__(guard, **options)
        self._source = source

    def __iter__(self) -> Iterator[T]:
        self._start()
        return self._run()

    def _run(self) -> Iterator[T]:
        windows = self.windows
        iterator = iter(self._source)
        pool = ThreadPoolExecutor(
            windows.max_in_flight + 1, thread_name_prefix="llamashield-stream"
        )
        checks: dict[Future[Verdict], Window[T]] = {}

        def launch(step: Schedule[T]) -> list[T]:
            for window in step.launch:
                # In the consumer's context: its OpenTelemetry span is the check's parent.
                conversation = windows.conversation(window)
                run = contextvars.copy_context().run
                checks[pool.submit(run, self.guard.check, conversation)] = window
            return step.release

        def settle(done: Iterable[Future[Verdict]]) -> list[T]:
            released: list[T] = []
            for future in sorted(done, key=lambda f: checks[f].index):
                window = checks.pop(future)
                released.extend(launch(windows.settle(window, future.result())))
            return released

        try:
            for item in iterator:
                yield from launch(self._feed(item))
                yield from settle([f for f in checks if f.done()])
                if windows.blocked is not None:
                    break
            else:
                yield from launch(windows.finish())
                while checks and windows.blocked is None:
                    done, _ = wait(checks, return_when=FIRST_COMPLETED)
                    yield from settle(done)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            close = getattr(iterator, "close", None)
            if close is not None:
                close()  # stops the upstream generation when we stop early
        self._raise_if_blocked()


class AsyncModeratedStream(_ModeratedStreamBase[T]):
    """An async iterator releasing the chunks of ``source`` once judged safe; see the module doc.

    A reader task pulls ``source`` as fast as it generates (the model never waits for the
    consumer or the guard), checks are tasks too, and both report to one queue the consumer
    side drains. On a block the reader and pending checks are cancelled and the source is
    closed (``aclose``).
    """

    def __init__(self, source: AsyncIterable[T], guard: LlamaGuard, **options: Any) -> None:
        super().__init__(guard, **options)
        self._source = source

    def __aiter__(self) -> AsyncIterator[T]:
        self._start()
        return self._run()

    async def _run(self) -> AsyncIterator[T]:
        windows = self.windows
        iterator = aiter(self._source)
        events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        checks: dict[asyncio.Task[Verdict], Window[T]] = {}
        reader = asyncio.create_task(_read_into(iterator, events))

        def launch(step: Schedule[T]) -> list[T]:
            for window in step.launch:
                task = asyncio.create_task(self.guard.acheck(windows.conversation(window)))
                task.add_done_callback(lambda done: events.put_nowait(("verdict", done)))
                checks[task] = window
            return step.release

        def handle(kind: str, payload: Any) -> list[T]:
            if kind == "verdict":
                if payload not in checks:
                    return []  # cancelled after a block
                return launch(windows.settle(checks.pop(payload), payload.result()))
            if kind == "item":
                return launch(self._feed(payload))
            if kind == "end":
                return launch(windows.finish())
            raise payload  # the source failed

        try:
            while not windows.done:
                released = handle(*await events.get())
                # Take whatever else is ready in one go: fewer wake-ups per chunk.
                while not events.empty() and windows.blocked is None:
                    released.extend(handle(*events.get_nowait()))
                if windows.blocked is not None:
                    break
                for item in released:
                    yield item
        finally:
            pending = [reader, *checks]
            for task in pending:
                task.cancel()
            # return_exceptions: the tasks' own errors and cancellations are not ours to raise.
            await asyncio.gather(*pending, return_exceptions=True)
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()  # stops the upstream generation when we stop early
        self._raise_if_blocked()


async def _read_into(iterator: AsyncIterator[Any], events: asyncio.Queue[tuple[str, Any]]) -> None:
    try:
        async for item in iterator:
            events.put_nowait(("item", item))
    except Exception as error:
        events.put_nowait(("error", error))
    else:
        events.put_nowait(("end", None))


def moderate_stream(
    source: Iterable[T],
    guard: LlamaGuard,
    *,
    context: str | Sequence[Any] | None = None,
    text: Callable[[T], str] | None = None,
    media: Callable[[T], Sequence[Any]] | None = None,
    window: WindowSpec = "sentence",
    min_window_chars: int = 16,
    max_window_chars: int = 400,
    max_in_flight: int = 4,
    max_context_chars: int | None = 16_000,
    raise_on_unsafe: bool = True,
    stage: str = "output",
) -> ModeratedStream[T]:
    """Moderate a sync stream; iterate the result to get the chunks judged safe.

    Args:
        source: the model's chunks (``str`` or any type ``text`` can read).
        guard: the ``LlamaGuard`` judging each window.
        context: the conversation before the answer: the user's input as a str, or a message
            list as ``LlamaGuard.check`` takes it. The answer is judged as the Agent turn.
        text: reads an item's text (default: the str itself, or its ``.content``).
        media: reads an item's media parts (images, audio... as content parts), judged with the
            text under the guard's media policy; a window of media alone is judged too.
        window: ``"sentence"`` (a window ends at a sentence end, once it has
            ``min_window_chars``, or at ``max_window_chars``) or a window size in characters.
        max_in_flight: guard calls at once; windows completed meanwhile are judged together.
        max_context_chars: the most answer text sent per check (the most recent part).
        raise_on_unsafe: raise ``UnsafeContentError(stage=stage)`` on a block; if False the
            iteration just ends and ``.blocked`` holds the verdict (to send a refusal instead).
    """
    return ModeratedStream(source, guard, **_options(locals()))


def amoderate_stream(
    source: AsyncIterable[T],
    guard: LlamaGuard,
    *,
    context: str | Sequence[Any] | None = None,
    text: Callable[[T], str] | None = None,
    media: Callable[[T], Sequence[Any]] | None = None,
    window: WindowSpec = "sentence",
    min_window_chars: int = 16,
    max_window_chars: int = 400,
    max_in_flight: int = 4,
    max_context_chars: int | None = 16_000,
    raise_on_unsafe: bool = True,
    stage: str = "output",
) -> AsyncModeratedStream[T]:
    """Moderate an async stream; ``async for`` over the result. Arguments as ``moderate_stream``."""
    return AsyncModeratedStream(source, guard, **_options(locals()))


_OPTIONS = ("context", "text", "media", "window", "min_window_chars", "max_window_chars",
            "max_in_flight", "max_context_chars", "raise_on_unsafe", "stage")  # fmt: skip


def _options(arguments: dict[str, Any]) -> dict[str, Any]:
    """The stream options among a public function's arguments (both take the same ones)."""
    return {name: arguments[name] for name in _OPTIONS}
