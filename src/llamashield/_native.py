"""Media parts in provider-native shapes (Bedrock Converse, Gemini), read as media.

Bedrock Converse and Gemini write media in their own shapes, most with no ``type`` key:
``{"image": {"format": "png", "source": {"bytes": ...}}}`` (also ``document`` and ``video``),
``{"inline_data": {"mime_type": ..., "data": ...}}``, ``{"file_data": {"file_uri": ...}}``
(camelCase too), and LangChain's Gemini parts ``{"type": "file_data", "file_uri": ...}`` and
``{"type": "media", ...}``. LangChain reads them as image/file blocks (``content_blocks``) and
the providers send them as media, so judging them as JSON text would let an image pass a guard
whose media policy refuses images (the payload is only base64 noise to Llama Guard).

``native_media(part)`` recognises them and maps each payload to the vocabulary
``_media.image_url_for`` reads (``base64`` text, raw ``image`` bytes, or a ``file_uri`` stored
at the provider, which the guard cannot read). Everything around a payload (a document's name,
a caption, a text source, unknown keys) is returned for judging. A text document's bytes
(``txt``/``md``/``csv``/``html``, ``text/*``) are text in disguise: decoded and judged, not
media. Pure: nothing is fetched, and base64 is decoded only to read a text document.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["Native", "native_media"]

# Bedrock Converse content blocks that hold media, by key, and the kind each is.
_CONVERSE: Final = {"image": "image", "video": "video", "document": "file"}
# What a Converse ``source`` holds the payload in: inline bytes, or an object in S3.
_CONVERSE_INLINE, _CONVERSE_STORED = "bytes", "s3Location"
# Converse document formats that are text (the model reads the bytes as text).
_CONVERSE_TEXT: Final = {"txt": "text/plain", "md": "text/markdown", "csv": "text/csv",
                         "html": "text/html"}  # fmt: skip
# Gemini parts: key -> (payload key: inline data or a stored file's URI, MIME key), in snake
# and camel case.
_GEMINI: Final = {
    "inline_data": ("data", "mime_type"),
    "inlineData": ("data", "mimeType"),
    "file_data": ("file_uri", "mime_type"),
    "fileData": ("fileUri", "mimeType"),
}
_URI_KEYS: Final = frozenset({_CONVERSE_STORED, "file_uri", "fileUri"})
# LangChain's Gemini parts with a ``type``: {"type": "file_data"|"media", ...}.
_TYPED: Final = frozenset({"file_data", "media"})


@dataclass(slots=True)
class Native:
    """What a provider-native part holds: media ``(kind, source, data)`` for the media policy,
    ``texts`` (decoded text documents), and ``rest``: the fields around each payload, judged."""

    media: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    rest: list[Mapping[Any, Any]] = field(default_factory=list)


def native_media(part: Mapping[Any, Any]) -> Native | None:
    """The media of a provider-native ``part`` and the fields to judge around it, or None when
    ``part`` holds no provider-native media (it is then judged as any other dict)."""
    found = Native()
    if part.get("type") in _TYPED:
        key = "data" if part.get("data") is not None else "file_uri"
        if part.get(key) is None:
            return None
        _add(found, f"{part['type']} part", part.get("mime_type"), part, key)
        found.rest.append(_without(part, "type", key))
        return found
    consumed: list[Any] = []
    for key, kind in _CONVERSE.items():
        inner = part.get(key)
        source = inner.get("source") if isinstance(inner, Mapping) else None
        if not isinstance(inner, Mapping) or not isinstance(source, Mapping):
            continue
        held = _CONVERSE_INLINE if source.get(_CONVERSE_INLINE) is not None else _CONVERSE_STORED
        if source.get(held) is None:
            continue
        mime = _converse_mime(kind, inner.get("format"))
        _add(found, f"Bedrock {key} part", mime, source, held, kind=kind)
        found.rest += [_without(inner, "source"), _without(source, held)]
        consumed.append(key)
    for key, (held, mime_key) in _GEMINI.items():
        inner = part.get(key)
        if not isinstance(inner, Mapping) or inner.get(held) is None:
            continue
        _add(found, f"Gemini {key} part", inner.get(mime_key), inner, held)
        found.rest.append(_without(inner, held))
        consumed.append(key)
    if not consumed:
        return None
    found.rest.insert(0, _without(part, *consumed))
    return found


def _without(mapping: Mapping[Any, Any], *keys: Any) -> dict[Any, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


def _add(
    found: Native,
    source: str,
    mime: Any,
    holder: Mapping[Any, Any],
    key: str,
    *,
    kind: str | None = None,
) -> None:
    """The payload ``holder[key]``: a text document's text, or a media part in the terms of
    ``image_url_for`` (a URI key names a file stored at the provider)."""
    payload = holder[key]
    inline, stored = (None, payload) if key in _URI_KEYS else (payload, None)
    mime = mime if isinstance(mime, str) and mime else None
    kind = kind or _kind(mime)
    if inline is not None and kind == "file" and mime is not None and mime.startswith("text/"):
        text = _text_of(inline)
        if text is not None:
            found.texts.append(text)
            return
    data: dict[str, Any] = {"type": kind}
    if inline is None:
        data["file_uri"] = stored  # stored at the provider: the guard cannot read it
    elif isinstance(inline, bytes | bytearray | memoryview):
        data["image" if kind == "image" else "data"] = bytes(inline)
    else:
        data["base64"] = inline
    if mime is not None:
        data["mime_type"] = mime
    found.media.append((kind, source, data))


def _kind(mime: str | None) -> str:
    major = (mime or "").partition("/")[0].lower()
    return major if major in ("image", "audio", "video") else "file"


def _converse_mime(kind: str, fmt: Any) -> str | None:
    if not isinstance(fmt, str) or not fmt:
        return None
    if kind == "file":
        return _CONVERSE_TEXT.get(fmt.lower())  # other documents: no MIME the guard needs
    return f"{kind}/{fmt.lower()}"


def _text_of(payload: Any) -> str | None:
    """The UTF-8 text of a document payload (bytes, or base64 text), or None if it is none."""
    try:
        if isinstance(payload, str):
            return base64.b64decode(payload, validate=True).decode("utf-8")
        if isinstance(payload, bytes | bytearray | memoryview):
            return bytes(payload).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    return None
