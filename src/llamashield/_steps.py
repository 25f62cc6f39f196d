"""The steps a plan yields (``_plan.py`` drives them): plain data, no I/O.

- ``Judge(conversations, stage=)``: judge each as its last turn; the plan gets ``list[Verdict]``.
- ``JudgeConversation(messages, trusted=)``: judge every message that came from outside; one
  ``Verdict``.
- ``Call(sync, async_, args, kwargs)``: call the wrapped component; its result.
- ``Start(step)``: begin ``step`` in the background (a worker thread, or a task); a
  ``Pending``. ``Await(pending)``: its result (a sync step never started is run right there).
- ``Stream(open, moderation)``: open a stream (``open`` is a ``Call`` returning an iterable, or
  an async iterable under the async drivers), moderated window by window when ``moderation`` is
  given; a ``StreamSource``. ``Next(source)``: its next item, or ``END``. ``Close(source)``:
  close it now (the plan goes on: a blocked input's refusal after the stream it stopped).
- ``Emit(item)``: hand ``item`` to the consumer (``stream_plan``/``astream_plan`` only).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

if TYPE_CHECKING:
    from llamashield._verdict import Verdict
    from llamashield.streaming import WindowSpec

__all__ = [
    "END",
    "Await",
    "Call",
    "Close",
    "Emit",
    "Judge",
    "JudgeConversation",
    "Next",
    "Pending",
    "Plan",
    "Start",
    "Step",
    "Stream",
    "StreamModeration",
    "StreamSource",
    "relay",
]

R = TypeVar("R")


class _End:
    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


END: Any = _End()
"""What ``Next`` returns once a stream has no more items."""


@dataclass(frozen=True)
class Judge:
    """Judge these conversations (concurrently); the plan receives ``list[Verdict]``.

    ``stage`` (``input``, ``output``, ``tool_args``...) only labels the checks' spans and
    metrics; without it a check's role implies it (user: input, agent: output).
    """

    conversations: Sequence[Any]
    stage: str | None = None


@dataclass(frozen=True)
class JudgeConversation:
    """Judge every message of ``conversation`` that came from outside, each as the last turn
    of its own prefix (``LlamaGuard.check_conversation``); the plan receives one ``Verdict``,
    or with ``per_turn=True`` ``(message index, verdict)`` for each judged message
    (``check_turns``: for components that remove or replace the unsafe turn). ``trusted`` holds
    the indexes of messages the guarded model produced in this run."""

    conversation: Any
    trusted: Collection[int] = ()
    per_turn: bool = False


@dataclass(frozen=True)
class Call:
    """Call the wrapped component: ``sync(*args, **kwargs)`` under the sync drivers, ``async_``
    (awaited when it returns an awaitable; ``sync`` when None) under the async ones."""

    sync: Callable[..., Any]
    async_: Callable[..., Any] | None = None
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Start:
    """Begin ``step`` in the background; the plan receives a ``Pending`` to ``Await`` later.
    Never awaited, it is cancelled when the plan ends."""

    step: Judge | JudgeConversation | Call


@dataclass(eq=False)
class Pending:
    """A step begun by ``Start``: a ``concurrent.futures.Future`` or an ``asyncio.Task``."""

    step: Judge | JudgeConversation | Call
    handle: Any


@dataclass(frozen=True)
class Await:
    """The result of a started step (its error is thrown into the plan)."""

    pending: Pending


@dataclass(frozen=True)
class StreamModeration:
    """How a ``Stream`` is moderated: the options of ``moderate_stream`` (see
    ``llamashield.streaming``). Blocked, the stream just ends; the source's ``blocked`` says
    why, and the plan decides the outcome."""

    context: str | Sequence[Any] | None = None
    text: Callable[[Any], str] | None = None
    media: Callable[[Any], Sequence[Any]] | None = None
    window: WindowSpec = "sentence"
    min_window_chars: int = 16
    max_window_chars: int = 400
    max_in_flight: int = 4
    max_context_chars: int | None = 16_000
    stage: str = "output"

    def options(self) -> dict[str, Any]:
        """The keywords of ``moderate_stream``/``amoderate_stream``."""
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"raise_on_unsafe": False}


@dataclass(frozen=True)
class Stream:
    """Open a stream: ``open`` returns the items (an iterable, or an async iterable under the
    async drivers); with ``moderation`` they are released window by window once judged safe.
    The plan receives a ``StreamSource`` to read with ``Next``."""

    open: Call
    moderation: StreamModeration | None = None


@dataclass(eq=False)
class StreamSource:
    """An opened stream: ``Next(source)`` reads it; once it ended, ``blocked`` is the unsafe
    verdict that stopped a moderated stream (None otherwise) and ``text`` what was generated."""

    iterator: Any
    moderated: Any = None

    @property
    def blocked(self) -> Verdict | None:
        return None if self.moderated is None else self.moderated.blocked

    @property
    def verdicts(self) -> list[Verdict]:
        return [] if self.moderated is None else list(self.moderated.verdicts)

    @property
    def text(self) -> str:
        return "" if self.moderated is None else str(self.moderated.text)


@dataclass(frozen=True)
class Next:
    """The next item of ``source``, or ``END``."""

    source: StreamSource


@dataclass(frozen=True)
class Close:
    """Close ``source`` now, stopping its upstream (the drivers close whatever is still open
    when the plan ends; this is for a plan that goes on after giving a stream up)."""

    source: StreamSource


@dataclass(frozen=True)
class Emit:
    """Hand ``item`` to the consumer of ``stream_plan``/``astream_plan``."""

    item: Any


Step: TypeAlias = Judge | JudgeConversation | Call | Start | Await | Stream | Next | Close | Emit
Plan: TypeAlias = Generator[Step, Any, R]


def relay(source: StreamSource, convert: Callable[[Any], Any] | None = None) -> Plan[Any]:
    """Emit every item of ``source`` (through ``convert``); return the last item emitted (the
    shape a refusal takes after it), or None when there was none."""
    last = None
    while (item := (yield Next(source))) is not END:
        last = item if convert is None else convert(item)
        yield Emit(last)
    return last
