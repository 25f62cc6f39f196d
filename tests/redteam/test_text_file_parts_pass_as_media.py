"""A plain-text file attached inline is text a chat model reads, but the core maps it to a media
part (_content.judged_text: LangChain's standard `{"type": "file", "base64": ...,
"mime_type": "text/plain"}`, OpenAI's `{"type": "file", "file": {"file_data":
"data:text/plain;base64,..."}}`, Anthropic's `{"type": "document", "source": {"type":
"base64", "media_type": "text/plain", ...}}`). Under media="text_only" ("judge only the text
and let media through unjudged", chosen to let images through) the file's text is never
judged: "summarize this file" + a file holding the payload is safe. The LlamaIndex adapter
decodes the same file (a text DocumentBlock, _inputs._document_text) and judges it: the two
adapters decide differently on one file."""

from __future__ import annotations

import base64
from typing import Any

import langchain_llamashield  # noqa: F401  (registers the LangChain message reader)
import llama_index.llamashield  # noqa: F401  (registers the LlamaIndex message reader)
import pytest
from langchain_core.messages import HumanMessage
from llama_index.core.base.llms.types import ChatMessage, DocumentBlock, TextBlock

from tests._support.last_turn import TRIGGER, last_turn_guard

TEXT = f"Chapter 1. {TRIGGER} PAYLOAD"
B64 = base64.b64encode(TEXT.encode()).decode()
PARTS: dict[str, dict[str, Any]] = {
    "langchain_file": {"type": "file", "base64": B64, "mime_type": "text/plain"},
    "openai_file": {
        "type": "file",
        "file": {"file_data": f"data:text/plain;base64,{B64}", "filename": "a.txt"},
    },
    "anthropic_document": {
        "type": "document",
        "source": {"type": "base64", "media_type": "text/plain", "data": B64},
    },
}


@pytest.mark.parametrize("shape", sorted(PARTS))
def test_an_inline_text_file_is_judged_as_text(shape: str) -> None:
    guard, _ = last_turn_guard(media="text_only")
    content: list[str | dict[Any, Any]] = [{"type": "text", "text": "summarize this file"}]
    content.append(PARTS[shape])
    assert not guard.check([{"role": "user", "content": content}]).safe
    assert not guard.check([HumanMessage(content=content)]).safe


def test_control_the_llamaindex_adapter_judges_the_same_file() -> None:
    guard, _ = last_turn_guard(media="text_only")
    message = ChatMessage(
        role="user",
        blocks=[
            TextBlock(text="summarize this file"),
            DocumentBlock(data=TEXT.encode(), document_mimetype="text/plain"),
        ],
    )
    assert not guard.check([message]).safe
