"""What a guarded LangChain component does with an unsafe verdict: raise, refuse, or reroute.

The vocabulary is the core's (``llamashield._blocked``); this module only converts it to
LangChain types:

- ``UnsafePolicy.parse(on_unsafe, refusal)``: validates ``"raise" | "refuse" | Runnable |
  callable`` (a callable becomes a ``RunnableLambda``).
- ``unsafe_plan``: raise ``UnsafeContentError(verdict, stage)``, return a refusal shaped like
  the output (``refusal_like``), or run the fallback with a ``Blocked`` (verdict, stage, the
  original content, the refusal text); a sans-I/O plan (``llamashield._plan``).
- ``output_example(runnable)``: an empty value of a runnable's output type (an ``AIMessage`` for
  chat models, ``""`` otherwise), so a refusal has the right type before any output exists.

Example::

    policy = UnsafePolicy.parse("refuse", refusal="Sorry, I can't help with that.")
    run_plan(unsafe_plan(policy, verdict, "input", text, example=AIMessage("")), guard)
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from llamashield import UnsafeContentError, Verdict
from llamashield.integration import (
    DEFAULT_REFUSAL,
    METADATA_KEY,
    Blocked,
    Call,
    Plan,
    format_refusal,
    parse_on_unsafe,
    verdict_metadata,
)

__all__ = [
    "DEFAULT_REFUSAL",
    "OnUnsafe",
    "UnsafePolicy",
    "output_example",
    "refusal_like",
    "unsafe_plan",
]

OnUnsafe = Literal["raise", "refuse"] | Runnable[Any, Any] | Callable[[Any], Any]


@dataclass(frozen=True)
class UnsafePolicy:
    """A validated ``on_unsafe`` setting; ``refusal`` is a template (``{categories}``...)."""

    mode: Literal["raise", "refuse", "reroute"]
    refusal: str = DEFAULT_REFUSAL
    fallback: Runnable[Any, Any] | None = None

    @classmethod
    def parse(cls, on_unsafe: OnUnsafe, refusal: str | None = None) -> UnsafePolicy:
        action = parse_on_unsafe(on_unsafe, refusal=refusal, targets=(Runnable,),
                                 what="a Runnable or callable")  # fmt: skip
        if action.mode == "reroute":
            target = action.target
            fallback = target if isinstance(target, Runnable) else RunnableLambda(target)
            return cls("reroute", action.refusal, fallback)
        return cls(action.mode, action.refusal)  # type: ignore[arg-type]

    def refusal_text(self, verdict: Verdict, stage: str, original: Any = "") -> str:
        return format_refusal(self.refusal, verdict, stage=stage, content=original)

    def payload(self, original: Any, verdict: Verdict, stage: str) -> Blocked:
        """What the fallback receives: the core's ``Blocked``."""
        return Blocked(verdict, stage, original, self.refusal_text(verdict, stage))

    def outcome(self, verdict: Verdict, stage: str, example: Any) -> Any:
        """Raise, or return the refusal (not for ``reroute``, which runs the fallback)."""
        if self.mode == "raise":
            raise UnsafeContentError(verdict, stage=stage)
        return refusal_like(example, self.refusal_text(verdict, stage), verdict, stage)


def unsafe_plan(
    policy: UnsafePolicy,
    verdict: Verdict,
    stage: str,
    original: Any,
    *,
    example: Any,
    config: RunnableConfig | None = None,
) -> Plan[Any]:
    """Apply ``policy`` to an unsafe verdict: raise, return a refusal, or run the fallback
    (``invoke`` under ``run_plan``, ``ainvoke`` under ``arun_plan``)."""
    if policy.fallback is None:
        return policy.outcome(verdict, stage, example)
    payload = policy.payload(original, verdict, stage)
    return (yield Call(policy.fallback.invoke, policy.fallback.ainvoke, (payload, config)))


def refusal_metadata(verdict: Verdict, stage: str) -> dict[str, Any]:
    """``response_metadata`` of a refusal message: the verdict's record, marked blocked."""
    return {METADATA_KEY: {**verdict_metadata(verdict, stage=stage), "blocked": True}}


def refusal_like(example: Any, refusal: str, verdict: Verdict, stage: str) -> Any:
    """``refusal`` in the shape of ``example``: a message (chunk) for messages, a str for text,
    and for a dict the same dict with its text values replaced."""
    if isinstance(example, BaseMessage):
        metadata = refusal_metadata(verdict, stage)
        message_type = AIMessageChunk if isinstance(example, AIMessageChunk) else AIMessage
        return message_type(content=refusal, response_metadata=metadata)
    if isinstance(example, Mapping):
        return {
            key: refusal_like(value, refusal, verdict, stage)
            if isinstance(value, str | BaseMessage)
            else value
            for key, value in example.items()
        }
    return refusal


def output_example(runnable: Runnable[Any, Any]) -> Any:
    """An empty value of ``runnable``'s output type: ``AIMessage("")`` when it yields messages."""
    try:
        output_type = runnable.OutputType
    except Exception:  # some runnables cannot tell before they run
        return ""
    return AIMessage(content="") if _mentions_message(output_type) else ""


def _mentions_message(annotation: Any) -> bool:
    if isinstance(annotation, type):
        return issubclass(annotation, BaseMessage)
    return any(_mentions_message(arg) for arg in typing.get_args(annotation))
