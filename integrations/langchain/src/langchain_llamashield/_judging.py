"""Pure helpers shared by the middleware, tools, document filter and callbacks: no I/O here.

They turn LangChain objects into the conversations Llama Guard judges, and verdicts into
metadata and violation messages. Every entry point does its own I/O (``guard.check`` or
``await guard.acheck``) around these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from llamashield import Verdict

__all__ = [
    "DEFAULT_VIOLATION_MESSAGE",
    "METADATA_KEY",
    "Conversation",
    "ExitBehavior",
    "agent_turn",
    "format_violation",
    "message_text",
    "tool_args_text",
    "user_turn",
    "verdict_metadata",
]

METADATA_KEY = "llamashield"
"""Key under which verdicts are recorded in ``Document.metadata`` and ``response_metadata``."""

DEFAULT_VIOLATION_MESSAGE = (
    "I'm sorry, but I can't comply with that request. It was flagged for {categories}."
)

ExitBehavior = Literal["end", "error", "replace"]
Conversation = list[dict[str, str]]


def message_text(message: Any) -> str:
    """The text of a message (or of any value): text content parts only, images skipped."""
    content = getattr(message, "content", message)
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, bytes | bytearray):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, Mapping) and part.get("type", "text") == "text":
                text = part.get("text")
                if isinstance(text, str):
                    texts.append(text)
        return "\n".join(texts)
    return str(content)


def user_turn(text: str) -> Conversation:
    """Judge ``text`` as the User's message (input moderation)."""
    return [{"role": "user", "content": text}]


def agent_turn(question: str | None, answer: str) -> Conversation:
    """Judge ``answer`` as the Agent's reply to ``question`` (output moderation).

    Without a question Llama Guard still gets an (empty) User turn first: its template needs one.
    """
    return [{"role": "user", "content": question or ""}, {"role": "assistant", "content": answer}]


def tool_args_text(name: str, args: Any, visible: Sequence[str] | None = None) -> str:
    """The text judged for a tool call: its name and arguments as JSON.

    ``visible`` names the arguments the model wrote; injected ones (state, runtime, store)
    are left out: they are not the model's words and may not serialise.
    """
    if isinstance(args, Mapping):
        shown = {k: v for k, v in args.items() if visible is None or k in visible}
        body = json.dumps(shown, ensure_ascii=False, default=str, sort_keys=True)
    else:
        body = str(args)
    return f"{name}: {body}"


def verdict_metadata(verdict: Verdict) -> dict[str, Any]:
    """A JSON-friendly summary of a verdict for metadata (documents, messages, traces)."""
    return {
        "safe": verdict.safe,
        "categories": list(verdict.codes),
        "category_names": [c.name for c in verdict.categories],
        "score": verdict.score,
        "role": verdict.role,
        "model": verdict.model,
        "error": verdict.error,
    }


def format_violation(template: str | None, verdict: Verdict, content: str, stage: str) -> str:
    """Fill a violation message template.

    Placeholders: ``{categories}`` (names), ``{codes}``, ``{stage}``, ``{original_content}``.
    A template with unknown placeholders is used as it is.
    """
    names = ", ".join(c.name for c in verdict.categories)
    if not names:
        names = "a guard error" if verdict.error else "Llama Guard's safety policy"
    try:
        return (template or DEFAULT_VIOLATION_MESSAGE).format(
            categories=names,
            codes=", ".join(verdict.codes),
            stage=stage,
            original_content=content,
        )
    except (KeyError, IndexError, ValueError):
        return template or DEFAULT_VIOLATION_MESSAGE
