"""Pure helpers shared by the middleware, tools, document filter, callbacks and graph node.

They build the conversations Llama Guard judges (the content itself is read by the core's
``judged_text``, through ``_inputs``) and the plan steps that judge them; the components'
plans yield those steps and ``run_plan``/``arun_plan`` do the I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from llamashield.integration import (
    JudgeConversation,
    UnjudgeableContent,
    UnsafeAction,
    judged_text,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "Conversation",
    "ParsedOnUnsafe",
    "agent_turn",
    "judge_turns",
    "tool_call_digest",
    "tool_call_part",
    "user_turn",
]

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


def judge_turns(conversation: Conversation, trusted: Collection[int] = ()) -> JudgeConversation:
    """The plan step that judges every outside turn of ``conversation`` and answers
    ``(message index, verdict)`` per judged turn: for the components that must know which turn
    was unsafe, to remove or replace it."""
    return JudgeConversation(conversation, trusted, per_turn=True)


def tool_call_part(name: str, args: Any) -> dict[str, Any]:
    """A tool call as the core's content part: its name and arguments (judged as JSON; the
    callers leave out injected arguments, see ``_tool_args``); a mapping is copied into a
    dict, the shape the core reads as JSON."""
    return {
        "type": "tool_call",
        "name": name,
        "args": dict(args) if isinstance(args, Mapping) else args,
    }


def tool_call_digest(name: str, args: Any) -> str:
    """A digest of a tool call's judged text: a marker bound to it no longer matches once the
    call is edited (same id, new arguments)."""
    try:
        text = judged_text(tool_call_part(name, args)).text
    except UnjudgeableContent:
        return ""  # never matches a recorded digest: the call is judged again
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class ParsedOnUnsafe:
    """For components that parse ``on_unsafe`` into the core's ``UnsafeAction`` once, when
    built: ``on_unsafe`` and ``refusal`` read it (one setting, no copies to drift)."""

    action: UnsafeAction

    @property
    def on_unsafe(self) -> str:
        """The mode (``"raise"``, ``"refuse"``, ``"end"``...), in llamashield's vocabulary."""
        return self.action.mode

    @property
    def refusal(self) -> str:
        """The refusal template (llamashield's ``DEFAULT_REFUSAL`` unless one was given)."""
        return self.action.refusal
