"""Provider-native media parts that LangChain itself reads as media pass a media="block" guard
as JSON text. `HumanMessage(...).content_blocks` (langchain_core's block translators) reads
{"image": {"format": "png", "source": {"bytes": <base64 str>}}} (Bedrock Converse's image
shape) as an "image" block and {"type": "file_data", "file_uri": "gs://..."} (Gemini's file
data) as a "file" block with a URL, but _content._judge_mapping sees a dict with no known
"type" and judges its canonical JSON: the part never reaches the media policy, so under
media="block" (Llama Guard 2/3's default, on_error="block") the image goes through "safe".
The same shapes under media="judge" would never be shown to Llama Guard 4 either."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend

PNG = base64.b64encode(bytes.fromhex("89504e470d0a1a0a") + b"\x00" * 32).decode()
SHAPES: dict[str, tuple[dict[str, Any], str]] = {
    "bedrock_converse_image": ({"image": {"format": "png", "source": {"bytes": PNG}}}, "image"),
    "gemini_file_data": (
        {"type": "file_data", "file_uri": "gs://bucket/cat.png", "mime_type": "image/png"},
        "file",
    ),
}


@pytest.mark.parametrize(("part", "kind"), list(SHAPES.values()), ids=list(SHAPES))
def test_media_langchain_knows_is_media_to_the_guard(part: dict[str, Any], kind: str) -> None:
    message = HumanMessage(content=[{"type": "text", "text": "what is this?"}, part])
    assert [b["type"] for b in message.content_blocks] == ["text", kind]  # LangChain: media
    guard = LlamaGuard(SimulatedBackend())
    assert guard.media == "block"
    verdict = guard.check([{"role": "user", "content": message.content}])
    assert not verdict.safe, "the media part passed a media='block' guard as JSON text"
