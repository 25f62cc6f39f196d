"""What every guarded component does with an unsafe verdict, in one vocabulary for both adapters.

Framework-agnostic (no LangChain or LlamaIndex import here); the adapters only convert their
types at the edge:

- ``Stage``: where content was judged: ``input``, ``output``, ``tool_args``, ``tool_result``,
  ``document``. ``stage_name`` maps the names of earlier releases onto these.
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

import inspect
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    from llamashield._verdict import Verdict

__all__ = [
    "DEFAULT_REFUSAL",
    "METADATA_KEY",
    "STAGES",
    "Blocked",
    "OnUnsafe",
    "Stage",
    "StageName",
    "UnsafeAction",
    "VerdictRecord",
    "format_refusal",
    "parse_on_unsafe",
    "renamed_option",
    "reroute_arity",
    "stage_name",
    "verdict_metadata",
]

Stage: TypeAlias = Literal["input", "output", "tool_args", "tool_result", "document"]
STAGES: tuple[Stage, ...] = ("input", "output", "tool_args", "tool_result", "document")

# Names of earlier releases (LangChain tools and middleware, the callback handler).
_LEGACY_STAGES: dict[str, Stage] = {
    "tool_input": "tool_args",
    "tool_output": "tool_result",
    "retrieval": "document",
}

METADATA_KEY = "llamashield"
"""Key under which verdicts are recorded in metadata (documents, nodes, messages, responses)."""

DEFAULT_REFUSAL = "I'm sorry, but I can't help with that: it was flagged for {categories}."

Mode: TypeAlias = Literal["raise", "refuse", "reroute", "end", "replace"]
OnUnsafe: TypeAlias = Literal["raise", "refuse", "end", "replace"] | Callable[..., Any] | Any
"""``"raise"`` | ``"refuse"`` | a reroute target (a Runnable, a query or chat engine, a
callable taking a ``Blocked``); agent middleware also takes ``"end"`` and ``"replace"``."""


class StageName(str):
    """A stage name that still compares equal to its name in earlier releases (with a warning),
    so ``error.stage == "tool_input"`` keeps working while code migrates to ``"tool_args"``."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str) and _LEGACY_STAGES.get(other) == str(self):
            _warn_stage(other)
            return True
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__


def _warn_stage(old: str) -> None:
    warnings.warn(
        f"stage {old!r} is now called {_LEGACY_STAGES[old]!r}; compare with the new name",
        DeprecationWarning,
        stacklevel=3,
    )


def stage_name(stage: str) -> StageName:
    """``stage`` under its current name (``"tool_input"`` becomes ``"tool_args"``...)."""
    if stage in _LEGACY_STAGES:
        _warn_stage(stage)
        stage = _LEGACY_STAGES[stage]
    return StageName(stage)


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

    # Earlier LangChain reroutes got ``{"input": ..., "verdict": ..., "stage": ...}``.
    def __getitem__(self, key: str) -> Any:
        legacy = {"input": self.content, "verdict": self.verdict, "stage": self.stage}
        if key not in legacy:
            raise KeyError(key)
        warnings.warn(
            f"a reroute now receives a llamashield.Blocked: use blocked.{_ATTR[key]} "
            f"instead of blocked[{key!r}]",
            DeprecationWarning,
            stacklevel=2,
        )
        return legacy[key]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


_ATTR = {"input": "content", "verdict": "verdict", "stage": "stage"}


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


class VerdictRecord(dict[str, Any]):
    """The JSON-ready record of one verdict (a plain ``dict`` for ``json.dumps``).

    Attribute reads (``record.safe``) still work for code written when LlamaIndex responses
    held ``Verdict`` objects, with a ``DeprecationWarning``.
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self:
            raise AttributeError(name)
        warnings.warn(
            f"metadata['llamashield'] holds JSON-ready dicts now: read [{name!r}], not .{name}",
            DeprecationWarning,
            stacklevel=2,
        )
        return self[name]


def verdict_metadata(verdict: Verdict, *, stage: str | None = None) -> VerdictRecord:
    """The one shape in which a verdict is attached to results: JSON-ready, no live objects.

    Keys: ``safe``, ``stage``, ``categories`` (codes), ``category_names``, ``score``, ``role``,
    ``model``, ``error``, ``cached``; a verdict judged in shadow mode adds ``shadow`` (true) and
    ``would_block`` (what enforcing would have done; ``safe`` is true there).
    """
    record = VerdictRecord(
        safe=verdict.safe,
        stage=None if stage is None else str(stage_name(stage)),
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


def renamed_option(value: Any, old_value: Any, old: str, new: str, *, stacklevel: int = 3) -> Any:
    """``value``, or ``old_value`` given under an option's earlier name (with a warning)."""
    if old_value is None:
        return value
    warnings.warn(f"{old}= is deprecated: use {new}=", DeprecationWarning, stacklevel=stacklevel)
    if value is not None and value != old_value:
        raise ValueError(f"pass {new}= only ({old}= is its deprecated name)")
    return old_value


def reroute_arity(target: Callable[..., Any]) -> int:
    """How many positional arguments a reroute callable takes (2: the earlier LlamaIndex
    ``(text, UnsafeContentError)`` form; 1: a ``Blocked``)."""
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: the current form
        return 1
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(positional)
