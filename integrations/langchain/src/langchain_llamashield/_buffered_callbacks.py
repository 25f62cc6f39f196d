"""Hold a wrapped run's callback events back until its input verdict (``parallel=True``).

``guard_runnable(..., parallel=True)`` runs the wrapped runnable while its input is judged, so
the run starts before anyone knows whether its input may be answered. Whatever learns of that
run through LangChain callbacks must not learn of it before the verdict, nor ever when the input
is refused: the caller's handlers (tokens, ``on_llm_end``), tracers, and handlers LangChain
attaches *inside* the runnable, out of reach of any config a guard could filter
(``with_listeners``; ``RunnableWithMessageHistory`` writes its history from one). A refused
exchange must not reach a handler, and must not end up in a memory that the next turn reads.

LangChain sends every callback event of every run through two functions of
``langchain_core.callbacks.manager`` (``handle_event`` and ``ahandle_event``, called by the run
managers of any callback manager, however deep). Both are wrapped, once, at import: while the
wrapped call runs under a ``CallbackBuffer`` (a context variable set in the call's own context;
the threads LangChain starts and the tasks asyncio starts copy it), its events are recorded
instead of dispatched. After a safe verdict they are replayed in order (through the wrappers, so
a buffer nested in another one replays into it) and the buffer opens: later events go straight
through. After an unsafe verdict, or a call that never got one, they are dropped, and so is
any later event of those runs or their children wherever it is sent from (an async generator
that Python finalises later, in another context, reports its run's end from there). Outside a
buffer the wrappers cost one context-variable read per event.

The same holds an answer's effects until its output verdict, more narrowly: record-keeping
tracers (LangSmith, run collectors) get the wrapped run live, as they always did (a trace shows
what the model said, with its timing), while handlers that act on a run (listeners: the history
writer) wait for the verdict, so a refused answer is never remembered.

Example::

    with CallbackBuffer() as buffer:
        pending = start(check, context)
        output = buffer.run(runnable.invoke, value, config)   # its events are held
        if finish(pending, check, context).safe:
            buffer.release()        # the handlers see the run now
        # else: dropped when the block exits
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextvars import ContextVar
from functools import partial
from typing import Any, Literal, TypeVar

from langchain_core.callbacks import BaseCallbackManager
from langchain_core.callbacks import manager as _manager
from langchain_core.tracers.base import AsyncBaseTracer, BaseTracer
from langchain_core.tracers.root_listeners import AsyncRootListenersTracer, RootListenersTracer

from langchain_llamashield._compat import STREAMING_HANDLER_TYPES
from langchain_llamashield._context import (
    aiterate_in_context,
    aiterate_with,
    awaited_with,
    context_with,
    iterate_in_context,
)

__all__ = ["CallbackBuffer", "keeps_records", "without_event_streams"]

M = TypeVar("M", bound=BaseCallbackManager)

T = TypeVar("T")

_current: ContextVar[CallbackBuffer | None] = ContextVar(
    "llamashield_callback_buffer", default=None
)

# The event dispatchers being wrapped; read once, before they are replaced.
_handle_event: Callable[..., None] = _manager.handle_event
_ahandle_event: Callable[..., Coroutine[Any, Any, None]] = _manager.ahandle_event

_LISTENERS = (RootListenersTracer, AsyncRootListenersTracer)

_Event = tuple[bool, list[Any], tuple[Any, ...], dict[str, Any]]  # (async?, handlers, args, kw)

# Runs whose events were dropped (the most recent ones): their late events are dropped too.
_MAX_DROPPED = 10_000
_dropped: OrderedDict[Any, None] = OrderedDict()
_dropped_lock = threading.Lock()


def _forget(run_ids: list[Any]) -> None:
    with _dropped_lock:
        for run_id in run_ids:
            if run_id is not None:
                _dropped[run_id] = None
                _dropped.move_to_end(run_id)
        while len(_dropped) > _MAX_DROPPED:
            _dropped.popitem(last=False)


def _of_dropped_run(kwargs: dict[str, Any]) -> bool:
    """Whether an event belongs to a dropped run (or a child of one, remembered as dropped)."""
    if not _dropped:
        return False
    run_id, parent = kwargs.get("run_id"), kwargs.get("parent_run_id")
    if run_id not in _dropped and (parent is None or parent not in _dropped):
        return False
    _forget([run_id])
    return True


def keeps_records(handler: Any) -> bool:
    """Whether ``handler`` only records runs (LangSmith, run collectors): a tracer, but not
    one that runs code of the application on a run's end (``with_listeners``, which is how
    ``RunnableWithMessageHistory`` writes its history) nor an event stream's consumer."""
    if isinstance(handler, _LISTENERS) or (
        STREAMING_HANDLER_TYPES and isinstance(handler, STREAMING_HANDLER_TYPES)
    ):
        return False
    return isinstance(handler, BaseTracer | AsyncBaseTracer)


def _acts(handler: Any) -> bool:
    return not keeps_records(handler)


class CallbackBuffer:
    """The callback events of one wrapped call, held until its verdict.

    ``hold="all"`` (before an input verdict) holds every event; ``hold="actors"`` (before an
    output verdict) holds only the events of handlers that act on a run (listeners such as a
    history writer, any handler but a record-keeping tracer), so traces keep their timing;
    ``hold="none"`` holds nothing.
    ``run``/``arun``/``task``/``iterate``/``aiterate`` run code under the buffer; ``release``
    (or ``arelease``) replays what was held and lets later events through; ``narrow`` replays
    what was held to record keepers and goes on holding for the others; ``drop`` discards what
    was held and what would have been. Leaving a ``with`` block drops whatever was not released.
    """

    def __init__(self, hold: Literal["all", "actors", "none"] = "all") -> None:
        self._events: list[_Event] = []
        self._hold_all = hold == "all"
        # "none": open from the start (shadow mode: everything as if unguarded).
        self._state: Literal["holding", "open", "dropped"] = "open" if hold == "none" else "holding"
        self._lock = threading.Lock()

    # -- what the wrappers call ------------------------------------------------------------

    def _hold(self, event: _Event) -> list[Any]:
        """Record ``event`` for the handlers held back; the handlers to dispatch it to now."""
        is_async, handlers, args, kwargs = event
        with self._lock:
            if self._state == "open":
                return handlers
            held = handlers if self._hold_all else [h for h in handlers if _acts(h)]
            if self._state == "holding":
                if held:
                    self._events.append((is_async, held, args, kwargs))
            elif self._hold_all:
                _forget([kwargs.get("run_id")])  # dropped whole: so will its late events be
        return [] if self._hold_all else [h for h in handlers if not _acts(h)]

    # -- the verdict ----------------------------------------------------------------------

    @property
    def holding(self) -> bool:
        return self._state == "holding"

    def _take(self, *, opening: bool) -> list[_Event]:
        with self._lock:
            events, self._events = self._events, []
            if not events and self._state == "holding" and opening:
                self._state = "open"
            return events

    def release(self) -> None:
        """Replay the held events in order, then let later events through."""
        while events := self._take(opening=True):
            _replay(events)

    async def arelease(self) -> None:
        """``release`` from async code: async events are awaited on the running loop."""
        while events := self._take(opening=True):
            await _areplay(events)

    def _narrowed(self) -> list[_Event]:
        """Hold back only the acting handlers' events from now on; the record keepers' share
        of what was held, to replay now."""
        with self._lock:
            events, self._events = self._events, []
            self._hold_all = False
            self._events = [
                (a, acting, args, kw)
                for a, handlers, args, kw in events
                if (acting := [h for h in handlers if _acts(h)])
            ]
        return [
            (a, keepers, args, kw)
            for a, handlers, args, kw in events
            if (keepers := [h for h in handlers if not _acts(h)])
        ]

    def narrow(self) -> None:
        """Replay the held events to record keepers only, and from now on hold back only the
        events of the other handlers (as ``hold="actors"``): the input verdict is in, the
        output's is not."""
        _replay(self._narrowed())

    async def anarrow(self) -> None:
        """``narrow`` from async code."""
        await _areplay(self._narrowed())

    def drop(self) -> None:
        """Discard the held events, and every later one that would have been held."""
        with self._lock:
            self._state = "dropped"
            events, self._events = self._events, []
        if self._hold_all:  # runs nobody may hear of: their late events are dropped too
            _forget([kwargs.get("run_id") for _, _, _, kwargs in events])

    def __enter__(self) -> CallbackBuffer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._state == "holding":
            self.drop()

    # -- running code under the buffer -----------------------------------------------------

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``, its callback events held."""
        return context_with(_current, self).run(fn, *args, **kwargs)

    async def arun(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` (made for this) with its callback events held: the buffer is
        set in the current task's context for as long as it runs (its tasks copy it)."""
        return await awaited_with(_current, self, awaitable)

    def iterate(self, start: Callable[[], Iterator[T]]) -> Iterator[T]:
        """Iterate ``start()``, every step (and the close) with its callback events held."""
        return iterate_in_context(partial(context_with, _current, self), start)

    def aiterate(
        self, start: Callable[[], AsyncIterator[T]], *, reader: bool = False
    ) -> AsyncIterator[T]:
        """Iterate ``start()``: every step (and the close) runs as a task of the buffer's
        context, so its events are held whichever task consumes this iterator.

        ``reader=True``: the consumer is a task that only reads this iterator (a moderated
        stream's reader), so the buffer is set in its context instead, without a task a step.
        """
        if reader:
            return aiterate_with(_current, self, start)
        return aiterate_in_context(partial(context_with, _current, self), start)


def _replay(events: list[_Event]) -> None:
    for _, handlers, args, kwargs in events:
        _buffered_handle_event(handlers, *args, **kwargs)


async def _areplay(events: list[_Event]) -> None:
    for is_async, handlers, args, kwargs in events:
        if is_async:
            await _buffered_ahandle_event(handlers, *args, **kwargs)
        else:
            _buffered_handle_event(handlers, *args, **kwargs)


def without_event_streams(manager: M) -> M:
    """``manager`` (a fresh child manager) without the handlers of ``astream_events`` and
    ``astream_log``: besides callback events, LangChain hands them a run's stream chunks
    directly (``tap_output_iter``), which no buffer can hold back."""
    if STREAMING_HANDLER_TYPES:
        kept = [h for h in manager.handlers if not isinstance(h, STREAMING_HANDLER_TYPES)]
        manager.handlers = kept
        manager.inheritable_handlers = [
            h for h in manager.inheritable_handlers if not isinstance(h, STREAMING_HANDLER_TYPES)
        ]
    return manager


def _dispatched_now(is_async: bool, handlers: list[Any], args: tuple[Any, ...],
                    kw: dict[str, Any]) -> list[Any] | None:  # fmt: skip
    """The handlers an event goes to now (None: none); the current buffer records it for the
    handlers it holds back, and an event of a dropped run goes nowhere."""
    if _of_dropped_run(kw):
        return None
    buffer = _current.get()
    if buffer is None:
        return handlers
    return buffer._hold((is_async, list(handlers), args, kw)) or None


def _buffered_handle_event(
    handlers: list[Any], event_name: str, ignore_condition_name: str | None, *args: Any, **kw: Any
) -> None:
    now = _dispatched_now(False, handlers, (event_name, ignore_condition_name, *args), kw)
    if now is not None:
        _handle_event(now, event_name, ignore_condition_name, *args, **kw)


async def _buffered_ahandle_event(
    handlers: list[Any], event_name: str, ignore_condition_name: str | None, *args: Any, **kw: Any
) -> None:
    now = _dispatched_now(True, handlers, (event_name, ignore_condition_name, *args), kw)
    if now is not None:
        await _ahandle_event(now, event_name, ignore_condition_name, *args, **kw)


def _install() -> None:
    # Once per process; a re-imported module (importlib.reload) must not wrap its own wrappers.
    global _handle_event, _ahandle_event
    original = getattr(_manager.handle_event, "__llamashield_original__", None)
    if original is not None:
        _handle_event = original
        _ahandle_event = _manager.ahandle_event.__llamashield_original__  # type: ignore[attr-defined]
    _buffered_handle_event.__llamashield_original__ = _handle_event  # type: ignore[attr-defined]
    _buffered_ahandle_event.__llamashield_original__ = _ahandle_event  # type: ignore[attr-defined]
    _manager.handle_event = _buffered_handle_event
    _manager.ahandle_event = _buffered_ahandle_event
    # Modules that took the dispatchers by name before this one was imported (LangGraph's
    # interrupt and resume events); those imported later get the wrappers.
    for name in _DISPATCHING_MODULES:
        module = sys.modules.get(name)
        if module is None:
            continue
        if getattr(module, "handle_event", None) is _handle_event:
            setattr(module, "handle_event", _buffered_handle_event)  # noqa: B010
        if getattr(module, "ahandle_event", None) is _ahandle_event:
            setattr(module, "ahandle_event", _buffered_ahandle_event)  # noqa: B010


_DISPATCHING_MODULES = ("langgraph.callbacks",)


_install()
