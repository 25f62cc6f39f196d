"""Llama Guard 4 reads images sent in Bedrock Converse and Gemini shapes, like any other image;
a file stored at the provider (a URI only) cannot be sent, so the error policy decides it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llamashield.testing import LoopbackServer
from tests.images.image_data import MARKER, b64, data_url, png, sent_images

LG4 = "meta-llama/Llama-Guard-4-12B"

INLINE: dict[str, Callable[[bytes], dict[str, Any]]] = {
    "converse_b64": lambda data: {"image": {"format": "png", "source": {"bytes": b64(data)}}},
    "converse_bytes": lambda data: {"image": {"format": "png", "source": {"bytes": data}}},
    "gemini_inline": lambda data: {"inline_data": {"mime_type": "image/png", "data": b64(data)}},
    "gemini_media": lambda data: {"type": "media", "mime_type": "image/png", "data": b64(data)},
}


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


@pytest.mark.parametrize("shape", list(INLINE))
@pytest.mark.parametrize("marked", [True, False])
def test_an_inline_native_image_reaches_llama_guard_4(
    server: LoopbackServer, shape: str, marked: bool
) -> None:
    data = png(MARKER if marked else b"")
    guard = server.guard(model=LG4)
    assert guard.media == "judge"
    verdict = guard.check([{"role": "user", "content": ["what is this?", INLINE[shape](data)]}])
    assert sent_images(server) == [data_url(data)]
    assert verdict.safe is not marked and verdict.error is None


@pytest.mark.parametrize(
    "part",
    [
        {"file_data": {"file_uri": "gs://bucket/cat.png", "mime_type": "image/png"}},
        {"type": "file_data", "file_uri": "gs://bucket/cat.png", "mime_type": "image/png"},
        {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://b/cat.png"}}}},
    ],
)
def test_an_image_stored_at_the_provider_is_left_to_on_error(
    server: LoopbackServer, part: dict[str, Any]
) -> None:
    before = len(server.bodies)
    verdict = server.guard(model=LG4).check([{"role": "user", "content": ["look", part]}])
    assert not verdict.safe and "stored at the provider" in (verdict.error or "")
    assert len(server.bodies) == before  # refused before any request
