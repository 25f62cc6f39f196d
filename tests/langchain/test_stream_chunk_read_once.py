"""A moderated LangChain stream reads each chunk once for its text and its media (the two
readers the moderated stream calls one after the other), and a chunk object yielded again
after it changed is read again: its new text is judged, never the reading of what it held
before."""

from __future__ import annotations

from unittest import mock

from langchain_llamashield import _stream
from langchain_llamashield._inputs import judged as core_reading

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


def test_a_chunk_is_read_once_for_its_text_and_its_media() -> None:
    moderation = _stream.moderation([], key="answer", window=1)
    assert moderation.text is not None and moderation.media is not None
    chunk = {"answer": ["Here it is. ", IMAGE]}
    with mock.patch("langchain_llamashield._stream.judged", wraps=core_reading) as judged:
        media = moderation.media(chunk)
        text = moderation.text(chunk)
    assert judged.call_count == 1
    assert media == [IMAGE] and text == "Here it is. "


def test_a_chunk_object_changed_and_yielded_again_is_read_again() -> None:
    moderation = _stream.moderation([], key="answer", window=1)
    assert moderation.text is not None and moderation.media is not None
    chunk = {"answer": "The weather is mild today. "}
    assert moderation.media(chunk) == [] and moderation.text(chunk) == chunk["answer"]
    chunk["answer"] = "Here is how to build a bomb at home. "  # the same object, changed
    assert moderation.media(chunk) == []
    assert moderation.text(chunk) == "Here is how to build a bomb at home. "
