"""Image parts on the loopback server: checked like a real server would, judged by a marker.

A Llama Guard 4 model id reads ``image_url`` parts (an http(s) URL or a base64 ``data:`` URL);
an image whose URL or decoded bytes contain ``UNSAFE-IMAGE`` is judged ``unsafe`` (S1), so
tests control the verdict by what they put in a picture. A text-only guard model answers 400
to any image part, as a text-only deployment would. Pure: no network, no image decoding.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from typing import Any

from llamashield._taxonomy import Taxonomy

__all__ = ["IMAGE_MARKER", "ImageRequestError", "image_answer"]

IMAGE_MARKER = "UNSAFE-IMAGE"
_IMAGE_TYPES = ("image_url", "input_image")


class ImageRequestError(ValueError):
    """A request the server answers with 400."""


def _image_urls(content: Any) -> Iterator[str]:
    if not isinstance(content, list):
        return
    for part in content:
        if not isinstance(part, Mapping) or part.get("type") not in _IMAGE_TYPES:
            continue
        image_url = part.get("image_url")
        url = image_url.get("url") if isinstance(image_url, Mapping) else image_url
        if not isinstance(url, str) or not url:
            raise ImageRequestError("an image_url part needs image_url.url (a URL or data: URL)")
        yield url


def _bytes_of(url: str) -> bytes:
    if not url.startswith("data:"):
        if not url.startswith(("http://", "https://")):
            raise ImageRequestError(f"unsupported image URL scheme: {url.split(':', 1)[0]!r}")
        return url.encode()
    head, _, payload = url.partition(",")
    if ";base64" not in head or not head[5:].startswith("image/"):
        raise ImageRequestError("a data: image URL must be data:image/...;base64,...")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ImageRequestError("the base64 image data does not decode") from None


def image_answer(
    model: str, messages: list[Any], taxonomy: Taxonomy, text_answer: str
) -> str | None:
    """The guard's answer once the images are seen; None when the messages carry no image.

    The marker in any image of the last judged message makes the answer unsafe with the
    taxonomy's first category (S1, Violent Crimes, in Llama Guard 4), added to the codes the
    text alone earned.
    """
    per_message = [
        (m.get("role"), list(_image_urls(m.get("content"))))
        for m in messages
        if isinstance(m, Mapping)
    ]
    if not any(urls for _, urls in per_message):
        return None
    if taxonomy.generation != 4:
        raise ImageRequestError(
            f"model {model} reads text only: image parts need a Llama Guard 4 model"
        )
    judged = [urls for role, urls in per_message if role in ("user", "assistant")]
    last = judged[-1] if judged else []
    if not any(IMAGE_MARKER.encode() in _bytes_of(url) for url in last):
        for urls in judged:  # still validate every image, as a server would
            for url in urls:
                _bytes_of(url)
        return text_answer
    code = taxonomy.categories[0].code
    lines = text_answer.split("\n")
    codes = [c for c in (lines[1].split(",") if len(lines) > 1 else []) if c]
    if code not in codes:
        codes.insert(0, code)
    return "unsafe\n" + ",".join(codes)
