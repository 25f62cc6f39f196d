"""Pure helpers shared by the middleware, tools, document filter and callbacks: no I/O here.

They build the conversations Llama Guard judges (the content itself is read by the core's
``judged_text``, through ``_inputs``), and turn verdicts into metadata and violation messages.
Every entry point does its own I/O (``guard.check`` or ``await guard.acheck``) around these.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_llamashield._inputs import message_text
from llamashield import Verdict
from llamashield.integration import (
    DEFAULT_REFUSAL,
    METADATA_KEY,
    UnjudgeableContent,
    format_refusal,
    judged_text,
    verdict_metadata,
)

__all__ = [
    "DEFAULT_VIOLATION_MESSAGE",
    "METADATA_KEY",
    "Conversation",
    "ExitBehavior",
    "agent_turn",
    "format_violation",
    "message_text",
    "tool_args_text",
    "tool_call_digest",
    "tool_call_part",
    "user_turn",
    "verdict_metadata",
]


DEFAULT_VIOLATION_MESSAGE = DEFAULT_REFUSAL  # one refusal text in both adapters

ExitBehavior = Literal["end", "error", "replace"]
Conversation = list[dict[str, Any]]


def user_turn(content: Any) -> Conversation:
    """Judge ``content`` (text, or content parts: media stay for the guard's media policy) as
    the User's message (input moderation)."""
    return [{"role": "user", "content": content}]


def agent_turn(question: Any, answer: Any) -> Conversation:
    """Judge ``answer`` as the Agent's reply to ``question`` (output moderation).

    Without a question Llama Guard still gets an (empty) User turn first: its template needs one.
    """
    return [{"role": "user", "content": question or ""}, {"role": "assistant", "content": answer}]


def tool_call_part(name: str, args: Any, visible: Sequence[str] | None = None) -> dict[str, Any]:
    """A tool call as the core's content part: its name and arguments (judged as JSON).

    ``visible`` names the arguments the model wrote; injected ones (state, runtime, store)
    are left out: they are not the model's words and may not serialise.
    """
    if isinstance(args, Mapping):
        args = {k: v for k, v in args.items() if visible is None or k in visible}
    return {"type": "tool_call", "name": name, "args": args}


def tool_args_text(name: str, args: Any, visible: Sequence[str] | None = None) -> str:
    """The text judged for a tool call (the core's reading of ``tool_call_part``)."""
    return judged_text(tool_call_part(name, args, visible)).text


def tool_call_digest(name: str, args: Any) -> str:
    """A digest of a tool call's judged text: a marker bound to it no longer matches once the
    call is edited (same id, new arguments)."""
    try:
        text = tool_args_text(name, args)
    except UnjudgeableContent:
        return ""  # never matches a recorded digest: the call is judged again
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def format_violation(template: str | None, verdict: Verdict, content: Any, stage: str) -> str:
    """Fill a refusal template (the core's ``format_refusal``; ``DEFAULT_REFUSAL`` when None).

    Placeholders: ``{categories}`` (names), ``{codes}``, ``{stage}``, ``{original_content}``.
    A template with unknown placeholders is used as it is.
    """
    return format_refusal(template, verdict, stage=stage, content=content)
