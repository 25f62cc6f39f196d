"""A LlamaIndex DocumentBlock holding a text file was judged as text only when its
`document_mimetype` starts with a lowercase text type (_inputs._document_text compared it
case-sensitively), while the core lowercases the MIME type of the same file in the LangChain,
OpenAI and Anthropic shapes (_content._inline_text_file), and MIME types are case-insensitive
(RFC 2045). `DocumentBlock(data=..., document_mimetype="Text/Plain")` with "summarize this
file" was left to the media policy: safe under media="text_only". Fixed in _document_text."""

from __future__ import annotations

import llama_index.llamashield  # noqa: F401  (registers the LlamaIndex message reader)
import pytest
from llama_index.core.base.llms.types import ChatMessage, DocumentBlock, TextBlock

from tests._support.last_turn import TRIGGER, last_turn_guard

TEXT = f"Chapter 1. {TRIGGER} PAYLOAD"


@pytest.mark.parametrize("mime", ["Text/Plain", "TEXT/MARKDOWN", "text/plain"])
def test_a_text_document_is_judged_whatever_the_case_of_its_mime_type(mime: str) -> None:
    guard, _ = last_turn_guard(media="text_only")
    message = ChatMessage(
        role="user",
        blocks=[
            TextBlock(text="summarize this file"),
            DocumentBlock(data=TEXT.encode(), document_mimetype=mime),
        ],
    )
    assert not guard.check([message]).safe


def test_control_a_safe_text_document_passes() -> None:
    guard, _ = last_turn_guard(media="text_only")
    block = DocumentBlock(data=b"Chapter 1. A mild day.", document_mimetype="Text/Plain")
    assert guard.check([ChatMessage(role="user", blocks=[block])]).safe
