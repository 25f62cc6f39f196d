"""What every guarded component does with an unsafe verdict, in one vocabulary for both adapters.

Framework-agnostic (no LangChain or LlamaIndex import here); the adapters only convert their
types at the edge:

- ``Stage``: where content was judged: ``input``, ``output``, ``tool_args``, ``tool_result``,
  ``document``.
- ``OnUnsafe``: ``"raise"`` (the default everywhere), ``"refuse"``, or a reroute target; agent
  middleware adds ``"end"``/``"replace"``. ``parse_on_unsafe`` validates a setting once, when the
  component is built, into an ``UnsafeAction``.
- ``Blocked``: the one payload a reroute receives (verdict, stage, the original content, the
  refusal text), whichever adapter calls it.
- ``DEFAULT_REFUSAL`` and ``format_refusal``: one refusal text, one template syntax
  (``{categories}``, ``{codes}``, ``{stage}``, ``{original_content}``).
- ``verdict_metadata``: the one JSON-ready dict shape attached to results (documents, nodes,
  messages, responses).

Example::

    from llamashield import Blocked, format_refusal, verdict_metadata

    action = parse_on_unsafe("refuse")
    format_refusal(None, verdict, stage="input")     # "I'm sorry, but I can't help ... Hate."
    json.dumps(verdict_metadata(verdict, stage="output"))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from llamashield import _publish

if TYPE_CHECKING:
    from llamashield._verdict import Verdict

__all__ = [
    "DEFAULT_REFUSAL",
    "METADATA_KEY",
    "STAGES",
    "Blocked",
    "OnUnsafe",
    "Stage",
    "UnsafeAction",
    "format_refusal",
    "parse_on_unsafe",
    "verdict_metadata",
]

Stage: TypeAlias = Literal["input", "output", "tool_args", "tool_result", "document"]
STAGES: tuple[Stage, ...] = ("input", "output", "tool_args", "tool_result", "document")

METADATA_KEY = "llamashield"
"""Key under which verdicts are recorded in metadata (documents, nodes, messages, responses)."""

DEFAULT_REFUSAL = "I'm sorry, but I can't help with that: it was flagged for {categories}."

Mode: TypeAlias = Literal["raise", "refuse", "reroute", "end", "replace"]
OnUnsafe: TypeAlias = Literal["raise", "refuse", "end", "replace"] | Callable[..., Any] | Any
"""``"raise"`` | ``"refuse"`` | a reroute target (a Runnable, a query or chat engine, a
callable taking a ``Blocked``); agent middleware also takes ``"end"`` and ``"replace"``."""


@dataclass(frozen=True)
class UnsafeAction:
    """A validated ``on_unsafe`` setting: the mode, and the reroute target for ``"reroute"``."""

    mode: Mode
    target: Any = None
    refusal: str = DEFAULT_REFUSAL


def parse_on_unsafe(
    on_unsafe: Any,
    *,
    refusal: str | None = None,
    modes: tuple[str, ...] = ("raise", "refuse"),
    aliases: Mapping[str, str] | None = None,
    targets: tuple[type, ...] = (),
    what: str | None = "a callable",
) -> UnsafeAction:
    """Validate ``on_unsafe`` when a component is built, not when content turns out unsafe.

    ``modes`` are the names this component takes (``"raise"``, ``"refuse"``, and ``"end"`` /
    ``"replace"`` for agent middleware); ``aliases`` map other spellings onto them;
    ``targets`` are the framework types accepted as reroute targets besides callables;
    ``what`` names them in the error, None when the component cannot reroute.
    """
    text = DEFAULT_REFUSAL if refusal is None else refusal
    if not isinstance(text, str):
        raise TypeError(f"refusal must be a str, got {type(text).__name__}")
    if isinstance(on_unsafe, str):
        name = (aliases or {}).get(on_unsafe, on_unsafe)
        if name in modes:
            return UnsafeAction(name, None, text)  # type: ignore[arg-type]
    elif what is not None and (isinstance(on_unsafe, targets) or callable(on_unsafe)):
        return UnsafeAction("reroute", on_unsafe, text)
    spelled = ", ".join(repr(m) for m in (*modes, *(aliases or {})))
    rerouting = f" or {what} to reroute to" if what is not None else " (it cannot reroute)"
    raise ValueError(f"on_unsafe must be {spelled}{rerouting}, got {on_unsafe!r}")


@dataclass(frozen=True)
class Blocked:
    """What a reroute receives when content is blocked, in both adapters; ``str()`` is the refusal.

    Example::

        def fallback(blocked: Blocked) -> str:
            log.warning("blocked %s: %s", blocked.stage, blocked.verdict)
            return blocked.refusal

        guard_runnable(chain, guard, on_unsafe=fallback)
    """

    verdict: Verdict
    stage: str  # one of STAGES
    content: Any
    refusal: str = field(default="")

    def __str__(self) -> str:
        return self.refusal

    @property
    def categories(self) -> list[str]:
        """The category codes that blocked the content."""
        return list(self.verdict.codes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the stage, the refusal and the verdict's record (not the content)."""
        return {
            "stage": str(self.stage),
            "refusal": self.refusal,
            "verdict": verdict_metadata(self.verdict, stage=self.stage),
        }


def format_refusal(template: str | None, verdict: Verdict, *, stage: str, content: Any = "") -> str:
    """Fill a refusal template (``DEFAULT_REFUSAL`` when None).

    Placeholders: ``{categories}`` (names), ``{codes}``, ``{stage}``, ``{original_content}``.
    A template with other placeholders (or stray braces) is used as it is.
    """
    text = DEFAULT_REFUSAL if template is None else template
    names = ", ".join(c.name for c in verdict.categories)
    if not names:
        names = "a guard error" if verdict.error else "Llama Guard's safety policy"
    try:
        return text.format(
            categories=names,
            codes=", ".join(verdict.codes),
            stage=str(stage).replace("_", " "),
            original_content=content if isinstance(content, str) else "",
        )
    except (KeyError, IndexError, ValueError, AttributeError):
        return text


def verdict_metadata(verdict: Verdict, *, stage: str | None = None) -> dict[str, Any]:
    """The one shape in which a verdict is attached to results: JSON-ready, no live objects.

    Keys: ``safe``, ``stage``, ``categories`` (codes), ``category_names``, ``score``, ``role``,
    ``model``, ``error``, ``cached``; a verdict judged in shadow mode adds ``shadow`` (true) and
    ``would_block`` (what enforcing would have done; ``safe`` is true there).
    """
    record: dict[str, Any] = dict(
        safe=verdict.safe,
        stage=None if stage is None else str(stage),
        categories=list(verdict.codes),
        category_names=[c.name for c in verdict.categories],
        score=verdict.score,
        role=verdict.role,
        model=verdict.model,
        error=verdict.error,
        cached=verdict.cached,
    )
    if verdict.shadow:
        record.update(shadow=True, would_block=bool(verdict.would_block))
    return record


_publish(globals())  # the public names here report ``llamashield`` as their module
