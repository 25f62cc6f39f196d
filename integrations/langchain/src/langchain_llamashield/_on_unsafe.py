"""What a guarded LangChain component does with an unsafe verdict: raise, refuse, or reroute.

The decision is the core's (``unsafe_outcome``/``unsafe_stream_outcome`` of
``llamashield.integration``); this module only converts it to LangChain types:

- ``UnsafePolicy.parse(on_unsafe, refusal)``: validates ``"raise" | "refuse" | Runnable |
  callable`` (a callable becomes a ``RunnableLambda``): the core's ``UnsafeAction`` with a
  Runnable as its target.
- ``unsafe_plan``: the core's outcome with LangChain's handlers: the refusal shaped like the
  output (``refusal_like``), or the fallback run (``invoke``, or in a stream its stream
  relayed) with a ``Blocked`` (verdict, stage, the original content, the refusal text).
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
from functools import partial
from typing import Any, Literal

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from llamashield import Verdict
from llamashield.integration import (
    DEFAULT_REFUSAL,
    METADATA_KEY,
    Blocked,
    Call,
    Plan,
    Stream,
    UnsafeAction,
    format_refusal,
    parse_on_unsafe,
    unsafe_outcome,
    unsafe_stream_outcome,
    verdict_metadata,
)

__all__ = [
    "DEFAULT_REFUSAL",
    "OnUnsafe",
    "UnsafePolicy",
    "chunk_example",
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

    @property
    def action(self) -> UnsafeAction:
        """The core's form of this setting (the fallback as the reroute target)."""
        return UnsafeAction(self.mode, self.fallback, self.refusal)

    def refusal_text(self, verdict: Verdict, stage: str, original: Any = "") -> str:
        return format_refusal(self.refusal, verdict, stage=stage, content=original)

    def payload(self, original: Any, verdict: Verdict, stage: str) -> Blocked:
        """What the fallback receives: the core's ``Blocked``."""
        return Blocked(verdict, stage, original, self.refusal_text(verdict, stage, original))

    def refused(self, example: Any, blocked: Blocked) -> Any:
        """The refusal in ``example``'s shape (its text never quotes the blocked content)."""
        text = self.refusal_text(blocked.verdict, blocked.stage)
        return refusal_like(example, text, blocked.verdict, blocked.stage)


def unsafe_plan(
    policy: UnsafePolicy,
    verdict: Verdict,
    stage: str,
    original: Any,
    *,
    example: Any,
    config: RunnableConfig | None = None,
    stream: bool = False,
    convert: Callable[[Any], Any] | None = None,
) -> Plan[Any]:
    """Apply ``policy`` to an unsafe verdict (the core's ``unsafe_outcome``): raise, the
    refusal shaped like ``example``, or the fallback's answer (``invoke``/``ainvoke``, as the
    driver). ``stream=True``: what a blocked stream emits (``unsafe_stream_outcome``): one
    refusal chunk, or the fallback's stream relayed; ``convert`` shapes each item."""
    handlers: dict[str, Callable[[Blocked], Any]] = {
        "refuse": partial(policy.refused, chunk_example(example) if stream else example)
    }
    if (fallback := policy.fallback) is not None:
        handlers["reroute"] = partial(_rerouted, fallback, config, stream)
    blocked = policy.payload(original, verdict, stage)
    if stream:
        return unsafe_stream_outcome(policy.action, blocked, handlers, convert)
    return unsafe_outcome(policy.action, blocked, handlers)


def _rerouted(
    fallback: Runnable[Any, Any], config: RunnableConfig | None, stream: bool, blocked: Blocked
) -> Call | Stream:
    """The step that runs the fallback: its answer, or in a stream its stream."""
    if stream:
        return Stream(Call(fallback.stream, fallback.astream, (blocked, config)))
    return Call(fallback.invoke, fallback.ainvoke, (blocked, config))


def chunk_example(example: Any) -> Any:
    """A stream chunk of ``example``'s type (a message becomes an ``AIMessageChunk``)."""
    if isinstance(example, BaseMessage) and not isinstance(example, AIMessageChunk):
        return AIMessageChunk(content="")
    return example


def refusal_metadata(verdict: Verdict, stage: str) -> dict[str, Any]:
    """``response_metadata`` of a refusal message: the verdict's record, marked blocked."""
    return {METADATA_KEY: {**verdict_metadata(verdict, stage=stage), "blocked": True}}


def refusal_like(example: Any, refusal: str, verdict: Verdict, stage: str) -> Any:
    """``refusal`` in the shape of ``example``: a message (chunk) for messages, a str for text,
    and for a dict the same keys with its text values replaced and nothing else of it kept
    (lists emptied, other objects None; numbers and booleans stay): any value may be what
    was judged unsafe (a retrieval chain's ``context``)."""
    if isinstance(example, BaseMessage):
        metadata = refusal_metadata(verdict, stage)
        message_type = AIMessageChunk if isinstance(example, AIMessageChunk) else AIMessage
        return message_type(content=refusal, response_metadata=metadata)
    if isinstance(example, Mapping):
        return {
            key: _refused_value(value, refusal, verdict, stage) for key, value in example.items()
        }
    return refusal


def _refused_value(value: Any, refusal: str, verdict: Verdict, stage: str) -> Any:
    if isinstance(value, str | BaseMessage | Mapping):
        return refusal_like(value, refusal, verdict, stage)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, list | tuple):
        return type(value)()
    return None


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
