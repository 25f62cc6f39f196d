"""What a guarded LlamaIndex component does with an unsafe verdict: raise, refuse, or reroute.

The vocabulary and the outcome are the core's (``llamashield.integration``): ``"raise"`` (the
default), ``"refuse"``, or a reroute target (another engine, or a callable receiving a
``Blocked``), applied by ``unsafe_outcome``. This module gives every component the same
pieces around it:

- ``Shield``: a component's settings, validated when it is built (a typo such as
  ``"refused"`` fails there, not when content turns out unsafe), and its ``Blocked`` payloads.
- ``GuardedEngine``: what both guarded engines share (the wrapped engine, its type checked;
  their ``Shield``; ``engine`` and ``guard``).
- ``Shield.handlers``: LlamaIndex's handlers for ``unsafe_outcome``: the component's refusal,
  and a reroute as a ``Call`` pair, so a sync method calls ``engine.query``/``chat`` and an
  async one ``aquery``/``achat`` (a callable target's awaitable is awaited by the async
  methods, and refused with an error that says so by the sync ones).

Example::

    shield = Shield.build(guard, on_unsafe="refuse", targets=(BaseQueryEngine,))
    on_unsafe = shield.handlers(refuse, lambda e: Call(e.query, e.aquery, (question,)))
    answer = yield from unsafe_outcome(shield.action, shield.blocked(verdict, "input", question),
                                       on_unsafe)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeAlias, TypeVar

from llama_index.llamashield._judging import check_guard

from llamashield import LlamaGuard, Verdict
from llamashield.integration import (
    Blocked,
    Call,
    Handlers,
    UnsafeAction,
    format_refusal,
    parse_on_unsafe,
)

__all__ = ["GuardedEngine", "OnUnsafe", "Shield"]

E = TypeVar("E")

OnUnsafe: TypeAlias = Literal["raise", "refuse"] | Callable[[Blocked], Any] | Any
"""``"raise"``, ``"refuse"``, an engine to reroute to, or a callable receiving the ``Blocked``
payload and returning the answer (a str, or the component's own response type; it may be async
under ``aquery``/``achat``/``acall``)."""


@dataclass(frozen=True)
class Shield:
    """A guarded component's settings: the guard (in the component's shadow mode), what it
    judges, and what an unsafe verdict does (``action``; its ``refusal`` template)."""

    guard: LlamaGuard
    action: UnsafeAction
    check_input: bool = True
    check_output: bool = True
    targets: tuple[type, ...] = ()  # the engine types a reroute may go to

    @classmethod
    def build(
        cls,
        guard: Any,
        *,
        on_unsafe: Any = "raise",
        refusal: str | None = None,
        shadow: bool | None = None,
        check_input: bool = True,
        check_output: bool = True,
        targets: tuple[type, ...] = (),
        reroute: bool = True,
    ) -> Shield:
        """Validate the settings; ``targets`` are the engine types a reroute may go to
        (besides callables); ``reroute=False`` for components that only raise or refuse."""
        names = ", ".join(t.__name__ for t in targets)
        what = None if not reroute else f"a {names} or a callable" if names else "a callable"
        action = parse_on_unsafe(on_unsafe, refusal=refusal, targets=targets, what=what)
        return cls(check_guard(guard, shadow), action, check_input, check_output, targets)

    @property
    def refusal(self) -> str:
        """The refusal template."""
        return self.action.refusal

    def blocked(self, verdict: Verdict, stage: str, content: Any) -> Blocked:
        """The payload of a block: the verdict, the stage, the content, the refusal text."""
        refusal = format_refusal(self.action.refusal, verdict, stage=stage)
        return Blocked(verdict, stage, content, refusal)

    def handlers(
        self, refuse: Callable[[Blocked], Any], engine_call: Callable[[Any], Call] | None = None
    ) -> Handlers:
        """``unsafe_outcome``'s handlers: ``refuse`` answers with the refusal (a value, or a
        step producing it); a reroute goes to another engine (``engine_call(engine)``: its
        sync/async method pair) or to the callable target, given the ``Blocked`` payload."""
        target = self.action.target

        def reroute(blocked: Blocked) -> Call:
            if engine_call is not None and isinstance(target, self.targets):
                return engine_call(target)
            return Call(functools.partial(_sync_fallback, target), target, (blocked,))

        return {"refuse": refuse, "reroute": reroute}


class GuardedEngine(Generic[E]):
    """What both guarded engines share: the engine they wrap (checked to be of its type) and
    their ``Shield``, with the public ``engine`` and ``guard``."""

    _engine: E
    _shield: Shield

    def _wrap(self, engine: E, engine_type: type, guard: Any, **settings: Any) -> None:
        """Keep ``engine`` (an ``engine_type``, also the type a reroute may go to) and the
        shield its ``settings`` make."""
        if not isinstance(engine, engine_type):
            name = engine_type.__name__
            raise TypeError(f"engine must be a {name}, got {type(engine).__name__}")
        self._engine = engine
        self._shield = Shield.build(guard, targets=(engine_type,), **settings)

    @property
    def engine(self) -> E:
        return self._engine

    @property
    def guard(self) -> LlamaGuard:
        return self._shield.guard


def _sync_fallback(fallback: Callable[[Blocked], Any], blocked: Blocked) -> Any:
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
