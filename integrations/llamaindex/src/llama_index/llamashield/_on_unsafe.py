"""What a guarded engine does with an unsafe verdict: raise, refuse, or reroute."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal, TypeAlias

from llamashield import UnsafeContentError

__all__ = ["Fallback", "OnUnsafe", "acall_fallback", "call_fallback", "check_on_unsafe"]

# A fallback gets the user's text and the error (``.verdict``, ``.stage``) and returns the
# answer: a str, or the component's own response type. It may be async under ``aquery``/``achat``.
Fallback: TypeAlias = Callable[[str, UnsafeContentError], Any]
OnUnsafe: TypeAlias = Literal["raise", "refuse"] | Fallback | Any


def check_on_unsafe(on_unsafe: Any, engine_types: tuple[type, ...]) -> Any:
    """Reject a typo (``"refused"``) when the component is built, not when content is unsafe."""
    if on_unsafe in ("raise", "refuse") or isinstance(on_unsafe, engine_types):
        return on_unsafe
    if isinstance(on_unsafe, str) or not callable(on_unsafe):
        names = ", ".join(t.__name__ for t in engine_types)
        raise ValueError(
            f"on_unsafe must be 'raise', 'refuse', a {names} or a callable "
            f"(text, UnsafeContentError) -> answer; got {on_unsafe!r}"
        )
    return on_unsafe


def call_fallback(fallback: Fallback, text: str, error: UnsafeContentError) -> Any:
    result = fallback(text, error)
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()  # no "coroutine was never awaited" warning on top of the real error
        raise TypeError(
            "on_unsafe returned an awaitable from a sync call: use the async method "
            "(aquery/achat) with an async fallback, or pass a sync function"
        )
    return result


async def acall_fallback(fallback: Fallback, text: str, error: UnsafeContentError) -> Any:
    result = fallback(text, error)
    if inspect.isawaitable(result):
        result = await result
    return result
