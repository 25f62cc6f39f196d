"""What a guarded LangChain component does with an unsafe verdict: raise, refuse, or reroute.

Shared by every adapter in this package, small and stable:

- ``UnsafePolicy.parse(on_unsafe, refusal)``: validates ``"raise" | "refuse" | Runnable |
  callable`` (a callable becomes a ``RunnableLambda``).
- ``handle_unsafe`` / ``ahandle_unsafe``: raise ``UnsafeContentError(verdict, stage)``, return a
  refusal shaped like the output (``refusal_like``), or run the fallback with
  ``{"input": original_input, "verdict": verdict, "stage": stage}``.
- ``output_example(runnable)``: an empty value of a runnable's output type (an ``AIMessage`` for
  chat models, ``""`` otherwise), so a refusal has the right type before any output exists.

Example::

    policy = UnsafePolicy.parse("refuse", refusal="Sorry, I can't help with that.")
    handle_unsafe(policy, verdict, "input", user_input, example=AIMessage(""))   # AIMessage(...)
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from llamashield import UnsafeContentError, Verdict

__all__ = [
    "DEFAULT_REFUSAL",
    "OnUnsafe",
    "UnsafePolicy",
    "ahandle_unsafe",
    "handle_unsafe",
    "output_example",
    "refusal_like",
]

DEFAULT_REFUSAL = "I'm sorry, but I can't help with that."

OnUnsafe = Literal["raise", "refuse"] | Runnable[Any, Any] | Callable[[Any], Any]


@dataclass(frozen=True)
class UnsafePolicy:
    """A validated ``on_unsafe`` setting."""

    mode: Literal["raise", "refuse", "reroute"]
    refusal: str = DEFAULT_REFUSAL
    fallback: Runnable[Any, Any] | None = None

    @classmethod
    def parse(cls, on_unsafe: OnUnsafe, refusal: str | None = None) -> UnsafePolicy:
        text = DEFAULT_REFUSAL if refusal is None else refusal
        if not isinstance(text, str):
            raise TypeError(f"refusal must be a str, got {type(text).__name__}")
        if on_unsafe == "raise" or on_unsafe == "refuse":
            return cls(on_unsafe, text)
        if isinstance(on_unsafe, Runnable):
            return cls("reroute", text, on_unsafe)
        if callable(on_unsafe):
            return cls("reroute", text, RunnableLambda(on_unsafe))
        raise ValueError(
            f"on_unsafe must be 'raise', 'refuse' or a Runnable to reroute to, got {on_unsafe!r}"
        )

    def payload(self, original: Any, verdict: Verdict, stage: str) -> dict[str, Any]:
        """What the fallback receives."""
        return {"input": original, "verdict": verdict, "stage": stage}

    def outcome(self, verdict: Verdict, stage: str, example: Any) -> Any:
        """Raise, or return the refusal (not for ``reroute``, which runs the fallback)."""
        if self.mode == "raise":
            raise UnsafeContentError(verdict, stage=stage)
        return refusal_like(example, self.refusal, verdict, stage)


def handle_unsafe(
    policy: UnsafePolicy,
    verdict: Verdict,
    stage: str,
    original: Any,
    *,
    example: Any,
    config: RunnableConfig | None = None,
) -> Any:
    """Apply ``policy`` to an unsafe verdict: raise, return a refusal, or run the fallback."""
    if policy.fallback is not None:
        return policy.fallback.invoke(policy.payload(original, verdict, stage), config)
    return policy.outcome(verdict, stage, example)


async def ahandle_unsafe(
    policy: UnsafePolicy,
    verdict: Verdict,
    stage: str,
    original: Any,
    *,
    example: Any,
    config: RunnableConfig | None = None,
) -> Any:
    """Async ``handle_unsafe``: the fallback runs with ``ainvoke``."""
    if policy.fallback is not None:
        return await policy.fallback.ainvoke(policy.payload(original, verdict, stage), config)
    return policy.outcome(verdict, stage, example)


def refusal_like(example: Any, refusal: str, verdict: Verdict, stage: str) -> Any:
    """``refusal`` in the shape of ``example``: a message (chunk) for messages, a str for text,
    and for a dict the same dict with its text values replaced."""
    if isinstance(example, BaseMessage):
        metadata = {"llamashield": {"blocked": True, "stage": stage, "codes": list(verdict.codes)}}
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
