"""What a guarded LlamaIndex component does with an unsafe verdict: raise, refuse, or reroute.

The vocabulary is the core's (``llamashield._blocked``): ``"raise"`` (the default),
``"refuse"``, or a reroute target (another engine, or a callable receiving a ``Blocked``).
This module converts it to LlamaIndex's components.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal, TypeAlias

from llamashield.integration import Blocked, UnsafeAction, parse_on_unsafe

__all__ = [
    "Fallback",
    "OnUnsafe",
    "acall_reroute",
    "call_reroute",
    "parse_action",
]

# A reroute callable gets the ``Blocked`` payload and returns the answer: a str, or the
# component's own response type. It may be async under ``aquery``/``achat``/``acall``.
Fallback: TypeAlias = Callable[[Blocked], Any]
OnUnsafe: TypeAlias = Literal["raise", "refuse"] | Fallback | Any


def parse_action(
    on_unsafe: Any, refusal: str | None, engine_types: tuple[type, ...] = ()
) -> UnsafeAction:
    """Reject a typo (``"refused"``) when the component is built, not when content is unsafe."""
    names = ", ".join(t.__name__ for t in engine_types)
    what = f"a {names} or a callable" if names else "a callable"
    return parse_on_unsafe(on_unsafe, refusal=refusal, targets=engine_types, what=what)


def call_reroute(fallback: Callable[..., Any], blocked: Blocked) -> Any:
    result = fallback(blocked)
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()  # no "coroutine was never awaited" warning on top of the real error
        raise TypeError(
            "on_unsafe returned an awaitable from a sync call: use the async method "
            "(aquery/achat/acall) with an async fallback, or pass a sync function"
        )
    return result


async def acall_reroute(fallback: Callable[..., Any], blocked: Blocked) -> Any:
    result = fallback(blocked)
    if inspect.isawaitable(result):
        result = await result
    return result
