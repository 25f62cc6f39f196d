"""Turn what flows through LangChain (inputs, outputs, stream chunks) into conversations to judge.

Pure: no guard calls. Shared by every adapter in this package, so it stays small and stable:

- ``input_conversation(value, role=, key=)``: the conversation an input stands for (messages as
  ``LlamaGuard.check`` takes them), ending with the turn to judge.
- ``output_text(value, key=)``: the text of an output or a stream chunk (an answer to judge).
- ``answer_conversation(context, answer)``: the context, then the answer as the Agent turn.
- ``message_text(message)``: a message's text, tool calls included.

Example::

    input_conversation({"question": "hi", "n": 3})          # [{'role': 'user', 'content': 'hi'}]
    output_text(AIMessage("Hello", tool_calls=[...]))       # 'Hello\\nsearch({"q": "x"})'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.prompt_values import PromptValue
from pydantic import BaseModel

__all__ = [
    "answer_conversation",
    "input_conversation",
    "is_message_list",
    "message_text",
    "output_text",
]

Role = Literal["user", "agent"]


def message_text(message: BaseMessage) -> str:
    """A message's text parts, then its tool calls as ``name(args)`` (their arguments can be
    unsafe too: a search for how to build a weapon is judged like saying it)."""
    parts: list[str] = [str(message.text)]
    for call in getattr(message, "tool_calls", None) or ():
        parts.append(f"{call.get('name', '')}({json.dumps(call.get('args', {}), default=str)})")
    if not getattr(message, "tool_calls", None):
        # Stream chunks carry the arguments as text fragments before they parse.
        for chunk in getattr(message, "tool_call_chunks", None) or ():
            parts.append(f"{chunk.get('name') or ''}{chunk.get('args') or ''}")
    return "\n".join(p for p in parts if p)


def is_message_list(value: Any) -> bool:
    """True for a non-empty list of ``BaseMessage`` objects."""
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str | bytes)
        and bool(value)
        and all(isinstance(m, BaseMessage) for m in value)
    )


def _speaker(role: Role) -> str:
    return "assistant" if role == "agent" else "user"


def input_conversation(value: Any, *, role: Role = "user", key: str | None = None) -> list[Any]:
    """The conversation ``value`` stands for, ending with the turn to judge.

    A str (or a single message, a Document) is one turn of ``role``; a message list or a
    ``PromptValue`` is the conversation as it is (system and tool messages are not judged); a
    dict gives ``value[key]`` when ``key`` is set, else its message lists (the history) followed
    by its string values joined as one turn. Raises ``ValueError`` when there is nothing to judge.
    """
    if isinstance(value, Mapping):
        if key is not None:
            if key not in value:
                raise ValueError(f"input has no key {key!r} to judge (keys: {sorted(value)})")
            return input_conversation(value[key], role=role)
        history: list[Any] = []
        texts: list[str] = []
        for item in value.values():
            if isinstance(item, str):
                if item.strip():
                    texts.append(item)
            elif is_message_list(item) or isinstance(item, PromptValue | BaseMessage):
                history.extend(input_conversation(item, role=role))
        conversation = history + (
            [{"role": _speaker(role), "content": "\n".join(texts)}] if texts else []
        )
        if not conversation:
            raise ValueError(
                "nothing to judge in this dict input: it has no string or message values; "
                "pass input_key= to name the text, or turn the input check off"
            )
        return conversation
    if isinstance(value, PromptValue):
        return list(value.to_messages())
    if isinstance(value, BaseMessage):
        return [{"role": _speaker(role), "content": message_text(value)}]
    if is_message_list(value):
        return list(value)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes) and value:
        first = value[0]
        if isinstance(first, tuple | Mapping | BaseMessage):
            return list(value)  # (role, content) pairs or message dicts: check() reads them
    text = output_text(value)
    if not text.strip():
        raise ValueError(
            f"nothing to judge in a {type(value).__name__} input; pass text, messages, a "
            "PromptValue or a dict with string values (input_key= picks one)"
        )
    return [{"role": _speaker(role), "content": text}]


def output_text(value: Any, *, key: str | None = None) -> str:
    """The text of an output or stream chunk; structured values are judged as JSON.

    ``key`` picks one entry of a dict output (e.g. ``"answer"`` of a retrieval chain).
    """
    if key is not None and isinstance(value, Mapping):
        if key not in value:
            raise ValueError(f"output has no key {key!r} to judge (keys: {sorted(value)})")
        return output_text(value[key])
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, BaseMessage):
        return message_text(value)
    if isinstance(value, Document):
        return value.page_content
    if isinstance(value, PromptValue):
        return value.to_string()
    if isinstance(value, Mapping):
        return "\n".join(t for t in (output_text(v) for v in value.values()) if t)
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return "\n".join(t for t in (output_text(v) for v in value) if t)
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if isinstance(value, int | float | bool):
        return ""  # numbers carry nothing Llama Guard judges
    return json.dumps(value, default=str)


def answer_conversation(context: Sequence[Any], answer: str) -> list[Any]:
    """``context`` followed by ``answer`` as the Agent turn."""
    return [*context, {"role": "assistant", "content": answer}]
