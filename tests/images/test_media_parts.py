"""Every image shape becomes one ``image_url`` URL, within Meta's limits, or is refused clearly."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamashield._media import ImageLimits, ImageRejected, image_url_for, sniff_image_format
from tests.images.image_data import MARKER, b64, data_url, gif, jpeg, png, webp

LIMITS = ImageLimits()


def shapes(data: bytes, mime: str = "image/png") -> list[dict[str, Any]]:
    """One image in every content-part shape the frameworks write."""
    encoded = b64(data)
    return [
        {"type": "image_url", "image_url": {"url": data_url(data, mime)}},  # OpenAI chat
        {"type": "image_url", "image_url": data_url(data, mime)},  # LangChain's str form
        {"type": "input_image", "image_url": data_url(data, mime)},  # OpenAI responses
        {"type": "image", "source_type": "base64", "data": encoded, "mime_type": mime},  # LC v0
        {"type": "image", "base64": encoded, "mime_type": mime},  # LangChain v1
        {"type": "image", "source": {"type": "base64", "media_type": mime, "data": encoded}},
        {"block_type": "image", "image": encoded, "image_mimetype": mime, "url": None},  # LI
    ]


@pytest.mark.parametrize("index", range(7))
def test_every_base64_shape_becomes_the_same_data_url(index: int) -> None:
    data = png(MARKER)
    assert image_url_for(shapes(data)[index], LIMITS) == data_url(data)


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "https://img.test/a.png", "detail": "low"}},
        {"type": "image", "source_type": "url", "url": "https://img.test/a.png"},
        {"type": "image", "url": "https://img.test/a.png"},
        {"type": "image", "source": {"type": "url", "url": "https://img.test/a.png"}},
        {"block_type": "image", "url": "https://img.test/a.png", "image": None, "path": None},
    ],
)
def test_url_images_are_passed_on_as_urls_never_fetched(part: dict[str, Any]) -> None:
    assert image_url_for(part, LIMITS) == "https://img.test/a.png"


def test_the_format_is_read_from_the_bytes_not_the_declared_type() -> None:
    data = jpeg(MARKER)
    url = image_url_for({"type": "image", "base64": b64(data), "mime_type": "image/png"}, LIMITS)
    assert url.startswith("data:image/jpeg;base64,")
    assert sniff_image_format(webp()) == "image/webp"


def test_a_local_path_is_read_and_sent_as_base64(tmp_path: Path) -> None:
    file = tmp_path / "photo.png"
    file.write_bytes(png(MARKER))
    url = image_url_for({"block_type": "image", "path": str(file)}, LIMITS, media_root=tmp_path)
    assert url == data_url(png(MARKER))


def test_a_path_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    file = tmp_path / "big.png"
    file.write_bytes(png(b"x" * 5000))
    small = ImageLimits(max_image_bytes=1000)
    with (
        patch("os.open", side_effect=AssertionError("opened")),
        pytest.raises(ImageRejected, match="max_image_bytes=1,000"),
    ):
        image_url_for({"block_type": "image", "path": str(file)}, small, media_root=tmp_path)


def test_base64_over_the_limit_is_refused_without_decoding() -> None:
    limits = ImageLimits(max_image_bytes=100)
    huge = "A" * 10_000 + "!"  # not even valid base64: the size check comes first
    with pytest.raises(ImageRejected, match="exceeds max_image_bytes=100"):
        image_url_for({"type": "image", "base64": huge}, limits)


@given(size=st.integers(1, 3000), limit=st.integers(64, 2000))
@settings(max_examples=60, deadline=None)
def test_the_size_limit_holds_exactly(size: int, limit: int) -> None:
    data = png(b"x" * size)
    part = {"type": "image_url", "image_url": {"url": data_url(data)}}
    if len(data) <= limit:
        assert image_url_for(part, ImageLimits(max_image_bytes=limit)) == data_url(data)
    else:
        with pytest.raises(ImageRejected, match="exceeds max_image_bytes"):
            image_url_for(part, ImageLimits(max_image_bytes=limit))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (gif(MARKER), "image/gif images are not accepted"),
        (png(MARKER, animated=True), "animated PNG"),
        (webp(animated=True), "animated WEBP"),
        (b"BM" + MARKER, "not a JPEG, PNG or WebP"),
        (b"hello", "not a JPEG, PNG or WebP"),
    ],
)
def test_formats_meta_reads_one_frame_of_or_not_at_all_are_refused(
    data: bytes, message: str
) -> None:
    with pytest.raises(ImageRejected, match=message):
        image_url_for({"type": "image", "base64": b64(data)}, LIMITS)


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}, "no media_root"),
        ({"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}, "ftp URL"),
        ({"type": "image_url", "image_url": {"url": "data:image/png,rawtext"}}, "base64"),
        ({"type": "image", "base64": "@@@not base64@@@"}, "does not decode"),
        ({"type": "image", "file_id": "file-123"}, "file_id"),
        ({"type": "image", "source": {"type": "file", "file_id": "f"}}, "file_id"),
        ({"type": "image"}, "no image URL"),
        ({"type": "image_url", "image_url": {"url": "https://x/" + "a" * 9000}}, "longer"),
    ],
)
def test_what_cannot_be_sent_faithfully_is_refused_with_the_reason(
    part: dict[str, Any], message: str
) -> None:
    with pytest.raises(ImageRejected, match=message):
        image_url_for(part, LIMITS)


def test_url_safe_and_wrapped_base64_decode() -> None:
    data = png(b"\xfb\xff" * 30)
    urlsafe = base64.urlsafe_b64encode(data).decode()
    wrapped = "\n".join(b64(data)[i : i + 20] for i in range(0, len(b64(data)), 20))
    for encoded in (urlsafe, wrapped):
        assert image_url_for({"type": "image", "base64": encoded}, LIMITS) == data_url(data)


def test_limits_validate_their_settings() -> None:
    with pytest.raises(ValueError, match="max_images"):
        ImageLimits(max_images=0)
    with pytest.raises(ValueError, match="max_image_bytes"):
        ImageLimits(max_image_bytes=0)
    with pytest.raises(ValueError, match="formats"):
        ImageLimits(formats=frozenset({"image/tiff"}))
    assert image_url_for(
        {"type": "image", "base64": b64(gif())}, ImageLimits(formats=frozenset({"image/gif"}))
    ).startswith("data:image/gif")
