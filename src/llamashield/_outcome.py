"""The one unsafe-outcome plan: what every guarded component does once content is blocked.

``on_unsafe`` is parsed once into an ``UnsafeAction`` (``_blocked.parse_on_unsafe``); when a
verdict is unsafe, ``unsafe_outcome`` (a value) or ``unsafe_stream_outcome`` (items for a
stream) applies it: ``"raise"`` raises ``UnsafeContentError`` here, every other mode is the
component's handler for it, which receives the ``Blocked`` payload and returns the outcome, or
a step that produces it (a ``Call`` to a reroute target; in a stream, a ``Stream`` to relay).
A mode the component has no handler for is a ``ConfigurationError``, never a silent pass.

Example::

    handlers = {
        "refuse": lambda blocked: blocked.refusal,
        "reroute": lambda blocked: Call(action.target, None, (blocked,)),
    }
    answer = yield from unsafe_outcome(action, Blocked(verdict, "input", question), handlers)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from llamashield._exceptions import ConfigurationError, UnsafeContentError
from llamashield._steps import Call, Emit, Judge, JudgeConversation, Plan, Stream, relay

if TYPE_CHECKING:
    from llamashield._blocked import Blocked, UnsafeAction

__all__ = ["Handlers", "unsafe_outcome", "unsafe_stream_outcome"]

Handlers: TypeAlias = Mapping[str, Callable[["Blocked"], Any]]
"""Per ``on_unsafe`` mode (``refuse``, ``reroute``, ``end``, ``replace``): the outcome, or a
step producing it."""


def _handled(action: UnsafeAction, blocked: Blocked, handlers: Handlers) -> Any:
    if action.mode == "raise":
        raise UnsafeContentError(blocked.verdict, stage=blocked.stage)
    handler = handlers.get(action.mode)
    if handler is None:
        taken = ", ".join(repr(mode) for mode in ("raise", *handlers))
        raise ConfigurationError(
            f"on_unsafe={action.mode!r} cannot apply to this component: it takes {taken}"
        )
    return handler(blocked)


def unsafe_outcome(action: UnsafeAction, blocked: Blocked, handlers: Handlers) -> Plan[Any]:
    """Raise, or the handler's outcome for ``action.mode`` (its step performed)."""
    outcome = _handled(action, blocked, handlers)
    if isinstance(outcome, Call | Judge | JudgeConversation):
        outcome = yield outcome
    return outcome


def unsafe_stream_outcome(
    action: UnsafeAction,
    blocked: Blocked,
    handlers: Handlers,
    convert: Callable[[Any], Any] | None = None,
) -> Plan[Any]:
    """In a stream: raise, relay the handler's ``Stream`` (a reroute target's), or emit its
    outcome as one more item; ``convert`` shapes each item. Returns the last item emitted."""
    outcome = _handled(action, blocked, handlers)
    if isinstance(outcome, Stream):
        return (yield from relay((yield outcome), convert))
    if isinstance(outcome, Call | Judge | JudgeConversation):
        outcome = yield outcome
    item = outcome if convert is None else convert(outcome)
    yield Emit(item)
    return item
