"""An inline text file in LangChain's v0 data-block shape (`{"type": "file", "source_type":
"base64", "mime_type": "text/plain", "data": <base64>}`, still accepted by langchain-core and
converted by it to the v1 `{"type": "file", "base64": ..., "mime_type": "text/plain"}` and to
OpenAI's `file_data` data URL) is left to the media policy: _content._inline_text_file reads
the payload only under `base64` (v1), `source` (Anthropic) or `file_data` (OpenAI), never under
`data`. Under media="text_only" "summarize this file" + the file is safe, while the same file in
the v1 shape (fixed this morning, test_text_file_parts_pass_as_media) is judged as text."""

from __future__ import annotations

import base64
from typing import Any

import langchain_llamashield  # noqa: F401  (registers the LangChain message reader)
from langchain_core.messages import HumanMessage

from tests._support.last_turn import TRIGGER, last_turn_guard

TEXT = f"Chapter 1. {TRIGGER} PAYLOAD"
B64 = base64.b64encode(TEXT.encode()).decode()
V0_FILE: dict[str, Any] = {
    "type": "file",
    "source_type": "base64",
    "mime_type": "text/plain",
    "data": B64,
}


def test_a_v0_inline_text_file_is_judged_as_text() -> None:
    guard, _ = last_turn_guard(media="text_only")
    content: list[str | dict[Any, Any]] = [{"type": "text", "text": "summarize this file"}, V0_FILE]
    assert not guard.check([HumanMessage(content=content)]).safe


def test_control_langchain_reads_the_v0_block_as_the_v1_text_file() -> None:
    message = HumanMessage(content=[V0_FILE])
    assert message.content_blocks[0] == {"type": "file", "base64": B64, "mime_type": "text/plain"}
    guard, _ = last_turn_guard(media="text_only")
    assert not guard.check([HumanMessage(content=message.content_blocks)]).safe  # type: ignore[arg-type]
