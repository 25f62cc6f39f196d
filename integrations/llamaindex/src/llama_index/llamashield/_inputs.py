"""LlamaIndex objects as the plain content the core judges: one conversion for every component.

Pure: no guard calls. Blocks become the core's content parts (``TextBlock`` -> ``text``,
``ThinkingBlock`` -> ``thinking``, ``ToolCallBlock`` -> ``tool_call``, a text ``DocumentBlock``
-> ``document``, ``ImageBlock``/``AudioBlock``/``VideoBlock``/binary documents -> media parts the
guard's media policy decides); ``llamashield._content.judged_text`` alone reads them. An unknown
block is left as a pydantic object: the core judges its JSON, never skips it.

Example::

    message_dict(ChatMessage(role="assistant", blocks=[ThinkingBlock(content="..."),
                                                        TextBlock(text="Hi")]))
    # {'role': 'assistant', 'content': [{'type': 'thinking', 'thinking': '...'},
    #                                   {'type': 'text', 'text': 'Hi'}]}
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    AudioBlock,
    ChatMessage,
    CitableBlock,
    CitationBlock,
    DocumentBlock,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    VideoBlock,
)
from llama_index.core.schema import BaseNode, ImageNode, MetadataMode, NodeWithScore
from llama_index.core.tools import ToolOutput

from llamashield.integration import JudgedContent, UnjudgeableContent, judged_text

__all__ = [
    "block_part",
    "has_content",
    "judged",
    "message_dict",
    "messages_conversation",
    "plain",
    "readable_text",
    "speaker",
    "tool_output_content",
]

# LlamaIndex roles as the core reads them. Tool and function results are the User's turn
# (content entering the conversation); "chatbot" and "model" are other names for the assistant;
# system prompts are the developer's (the core does not judge them).
_ROLES = {
    "user": "user",
    "tool": "user",
    "function": "user",
    "assistant": "assistant",
    "chatbot": "assistant",
    "model": "assistant",
    "system": "system",
    "developer": "system",
}
# additional_kwargs an LLM integration fills with the model's words besides the blocks.
_EXTRA_KEYS = ("tool_calls", "function_call", "reasoning_content", "thinking", "refusal")


def speaker(message: Any) -> str:
    """``"user"``, ``"assistant"`` or ``"system"`` (an unknown role is judged as the user's).

    ``MessageRole`` is a str enum whose ``str()`` is ``"MessageRole.USER"``: read by value.
    """
    raw = getattr(message, "role", None)
    return _ROLES.get(str(getattr(raw, "value", raw)).lower(), "user")


def _media(kind: str, block: Any) -> dict[str, Any]:
    url = getattr(block, "url", None)
    path = getattr(block, "path", None)
    where = str(url) if url else str(path) if path else "inline data"
    return {"type": kind, "url": where}


def _document_text(block: DocumentBlock) -> str | None:
    """A text document's content (never fetched: only inline data is read), by the core's one
    reading of inline files (which types are text, how they decode)."""
    # A stream (IOBase) is not read here: reading would consume the caller's file.
    if not isinstance(block.data, bytes):
        return None
    raw = block.data
    with contextlib.suppress(binascii.Error, ValueError):  # LlamaIndex keeps it base64-encoded
        raw = base64.b64decode(raw, validate=True)
    inline = {"type": "file", "base64": base64.b64encode(raw).decode("ascii"),
              "mime_type": block.document_mimetype or ""}  # fmt: skip
    reading = judged_text(inline)
    return None if reading.media else reading.text


def block_part(block: Any) -> Any:
    """One LlamaIndex content block as a core content part (unknown blocks as they are)."""
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ThinkingBlock):
        return {"type": "thinking", "thinking": block.content or ""}
    if isinstance(block, ToolCallBlock):
        return {"type": "tool_call", "name": block.tool_name, "args": block.tool_kwargs}
    if isinstance(block, ImageBlock):
        # The block itself: the core reads its url, path or bytes, so Llama Guard 4 sees the
        # picture (a summary dict here would lose the bytes and could never be judged).
        return block
    if isinstance(block, AudioBlock):
        return _media("audio", block)
    if isinstance(block, VideoBlock):
        return _media("video", block)
    if isinstance(block, DocumentBlock):
        text = _document_text(block)
        if text is None:
            return {**_media("file", block), "title": block.title}
        return {"type": "document", "title": block.title, "content": text}
    if isinstance(block, CitableBlock):
        return {
            "type": "search_result",
            "title": block.title,
            "source": block.source,
            "content": [block_part(b) for b in block.content],
        }
    if isinstance(block, CitationBlock):
        return {
            "type": "search_result",
            "title": block.title,
            "source": block.source,
            "content": [block_part(block.cited_content)],
        }
    if type(block).__name__ == "CachePoint":
        return ""  # a prompt-caching marker: no content
    return plain(block)


def message_dict(message: Any, role: str | None = None) -> dict[str, Any]:
    """A ``ChatMessage`` as the core reads it: its role (``role`` overrides it) and every block,
    with the tool calls and reasoning an LLM integration keeps in ``additional_kwargs``."""
    if not isinstance(message, ChatMessage):
        return {"role": role or speaker(message), "content": plain(message)}
    parts: list[Any] = [block_part(b) for b in message.blocks]
    extra = message.additional_kwargs
    # The known keys first, then any other (``name``, a provider's field we do not know yet):
    # what an LLM integration sends with the message is judged, never skipped.
    for key in (*_EXTRA_KEYS, *sorted(k for k in extra if k not in _EXTRA_KEYS)):
        value = extra.get(key)
        if value not in (None, "", [], {}):
            parts.append(plain(value))
    return {"role": role or speaker(message), "content": parts}


def messages_conversation(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """Chat messages (a history) as the core's conversation."""
    return [message_dict(m) for m in messages]


def _node_part(node: BaseNode) -> Any:
    text = node.get_content(metadata_mode=MetadataMode.LLM)
    if isinstance(node, ImageNode) and (node.image or node.image_url or node.image_path):
        # An image node puts its image in a multimodal prompt: the media policy decides.
        return [text, {"type": "image", "url": node.image_url or node.image_path or "inline"}]
    return text


def plain(value: Any) -> Any:
    """``value`` with LlamaIndex objects turned into plain content; anything else as it is."""
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, ChatMessage):
        return message_dict(value)["content"]
    if isinstance(value, NodeWithScore):
        return _node_part(value.node)
    if isinstance(value, BaseNode):
        return _node_part(value)
    if isinstance(value, ToolOutput):
        return tool_output_content(value)
    if isinstance(value, TextBlock | ThinkingBlock | ToolCallBlock | ImageBlock | AudioBlock):
        return block_part(value)
    if isinstance(value, VideoBlock | DocumentBlock | CitableBlock | CitationBlock):
        return block_part(value)
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def tool_output_content(output: ToolOutput) -> list[Any]:
    """What a tool's output carries to the model and the caller: its blocks, and its raw
    output when that is more than the blocks' text (a Document, a pydantic object, a dict)."""
    parts: list[Any] = [block_part(b) for b in output.blocks]
    raw = output.raw_output
    if raw is not None and not (isinstance(raw, str) and raw == output.content):
        parts.append(plain(raw))
    return parts


def judged(value: Any) -> JudgedContent:
    """The core's reading of ``value`` (``judged_text`` after converting LlamaIndex objects)."""
    return judged_text(plain(value))


def readable_text(value: Any) -> str:
    """The judged text of ``value`` for messages and payloads; never raises."""
    try:
        return judged(value).text
    except UnjudgeableContent:
        return f"<unreadable {type(value).__name__}>"


def has_content(value: Any) -> bool:
    """Whether ``value`` has anything to judge (unjudgeable content counts: the guard's error
    policy decides it, it is never taken for empty)."""
    try:
        reading = judged(value)
    except UnjudgeableContent:
        return True
    return bool(reading.text.strip() or reading.media)
