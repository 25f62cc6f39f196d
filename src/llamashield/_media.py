"""Images for Llama Guard 4: every image shape turned into one OpenAI ``image_url`` URL, within
the limits Meta's model was tested at.

A part arrives in the shape its framework wrote it (OpenAI ``image_url``/``input_image``,
LangChain ``image`` blocks v0 and v1, Anthropic ``source`` blocks, LlamaIndex ``ImageBlock``
dumped to a dict) and leaves as what the chat-capable backends send: an ``http(s)`` URL, passed
on as it is (the guard never fetches it: a server fetching it is the server's business), or a
``data:image/...;base64,...`` URL whose bytes were size-checked before they were decoded and
whose format was read from the bytes themselves, not from the declared MIME type.

Limits (sources, checked 2026-12-01):

- **How many images**: 5 by default. Meta tested Llama 4 "for image understanding up to 5 input
  images" (llama-models ``models/llama4/MODEL_CARD.md``), and Llama Guard 4 was trained on
  samples with mostly 2 to 5 images and tested "mostly with prompts containing a few images
  (three, most frequently)" (PurpleLlama ``Llama-Guard4/12B/MODEL_CARD.md``).
- **Size**: Meta's encoder (llama-models ``llama4/chat_format.py``, ``max_num_chunks=16``)
  resizes every image to at most 16 tiles of 336 px, so a bigger file adds no detail the model
  reads; the default cap of 4 MiB per decoded image bounds what one request sends.
- **Formats**: JPEG, PNG and WebP. Meta's code opens the image with PIL and reads one frame, so
  the frames of an animation past the first would reach the pipeline unjudged: animated PNG
  and WebP, and GIF (usually animated), are refused rather than half-judged.

Local files (a ``path`` in any image part, a ``file://`` URL) are read only under the folder the
developer names with ``LlamaGuard(media_root=...)``: the path is resolved (symlinks followed,
``..`` applied) and must stay inside it, and only a regular file within ``max_image_bytes`` and
the check's timeout is read, opened without blocking. Any other path is refused with one error
text, the same whether the file exists or not, so content written by a user can neither send a
server's files to the guard provider nor probe which files exist. Without ``media_root`` no
local file is ever read. That reading is the only I/O here; everything else is pure.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import stat
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from urllib.request import url2pathname

from llamashield._conversation import Turn
from llamashield._exceptions import ConfigurationError, ImageRejected
from llamashield._taxonomy import Taxonomy
from llamashield.backends._base import Backend

__all__ = [
    "DEFAULT_IMAGE_FORMATS",
    "ImageLimits",
    "ImageRejected",
    "MediaMode",
    "image_url_for",
    "resolve_media",
    "resolve_media_root",
    "sniff_image_format",
    "why_no_images",
    "with_images",
]

DEFAULT_IMAGE_FORMATS = frozenset({"image/jpeg", "image/png", "image/webp"})
# The model Meta built to read images; the media errors name it.
IMAGE_MODEL_HINT = "meta-llama/Llama-Guard-4-12B"

_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^;,]*)*),", re.I)
_WHITESPACE = re.compile(r"\s+")
_MAX_URL_CHARS = 8192
_READ_CHUNK = 1 << 20
# Opening never waits (a FIFO swapped in after the type check), never follows a last-component
# symlink swapped in after resolving, and is not inherited by child processes. Flags a platform
# lacks are 0 there (Windows has neither FIFOs opened this way nor O_NOFOLLOW).
_OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)  # fmt: skip
# One text for every local file that is not read, whatever the reason (outside the root,
# missing, unreadable, not a regular file, too large, too slow, not an image): a user who wrote
# the path learns nothing about the server's files from it. The real reason is logged at DEBUG.
_NOT_READ = (
    "{where}: the local image file was not read: a local image is read only when it is a "
    "regular file inside LlamaGuard(media_root=...) holding an image of an accepted format, of "
    "at most max_image_bytes={limit:,} bytes, read within the check's timeout"
)
_NO_ROOT = (
    "{where}: an image given as a local path or file:// URL is not read: this guard has no "
    "media_root. Pass LlamaGuard(media_root=<the folder your images are in>) to read local "
    "images there, or pass the image's bytes"
)

logger = logging.getLogger("llamashield")


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """How many images one conversation may carry, how large each may be, and which formats.

    Example::

        ImageLimits(max_images=3, max_image_bytes=2 * 1024 * 1024)
    """

    max_images: int = 5
    max_image_bytes: int = 4 * 1024 * 1024
    formats: frozenset[str] = DEFAULT_IMAGE_FORMATS

    def __post_init__(self) -> None:
        if not (isinstance(self.max_images, int) and self.max_images >= 1):
            raise ConfigurationError(f"max_images must be an int >= 1, got {self.max_images!r}")
        if not (isinstance(self.max_image_bytes, int) and self.max_image_bytes >= 1):
            raise ConfigurationError(
                f"max_image_bytes must be an int >= 1, got {self.max_image_bytes!r}"
            )
        unknown = set(self.formats) - {"image/jpeg", "image/png", "image/webp", "image/gif"}
        if unknown or not self.formats:
            raise ConfigurationError(
                f"formats must be a non-empty subset of image/jpeg, image/png, image/webp and "
                f"image/gif, got {sorted(self.formats)!r}"
            )


def sniff_image_format(data: bytes) -> str | None:
    """The image MIME type the bytes themselves say, or None when they are no known image."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def _animated(data: bytes, mime: str) -> bool:
    """Whether a PNG or WebP holds an animation (Meta's encoder would read its first frame)."""
    if mime == "image/png":
        # Walk the chunks: an APNG has an acTL chunk before its first IDAT.
        offset = 8
        while offset + 8 <= len(data):
            length = int.from_bytes(data[offset : offset + 4], "big")
            kind = data[offset + 4 : offset + 8]
            if kind == b"acTL":
                return True
            if kind in (b"IDAT", b"IEND"):
                return False
            offset += 12 + length
        return False
    if mime == "image/webp":
        # Extended WebP: a VP8X chunk whose flags byte has the animation bit (0x02).
        return data[12:16] == b"VP8X" and len(data) > 20 and bool(data[20] & 0x02)
    return mime == "image/gif"


def _check_bytes(data: bytes, declared: str | None, limits: ImageLimits, where: str) -> str:
    mime = sniff_image_format(data)
    if mime is None:
        said = f" (declared {declared})" if declared else ""
        raise ImageRejected(
            f"{where}: the data is not a JPEG, PNG or WebP image{said}; Llama Guard 4 reads "
            "those formats only here: convert it before it reaches the guarded pipeline"
        )
    if mime not in limits.formats:
        raise ImageRejected(
            f"{where}: {mime} images are not accepted (allowed: "
            f"{', '.join(sorted(limits.formats))}); convert it to PNG or JPEG"
        )
    if _animated(data, mime) and mime != "image/gif":
        raise ImageRejected(
            f"{where}: an animated {mime.split('/')[1].upper()}: Llama Guard 4 reads one frame, "
            "so the others would pass unjudged; send its frames as separate images"
        )
    return mime


def _too_large(size: int, limits: ImageLimits, where: str) -> ImageRejected:
    return ImageRejected(
        f"{where}: {size:,} bytes exceeds max_image_bytes={limits.max_image_bytes:,}; Llama Guard "
        "4 reads at most 16 tiles of 336 px, so downscale the image (or raise max_image_bytes)"
    )


def _from_base64(payload: str, declared: str | None, limits: ImageLimits, where: str) -> str:
    payload = _WHITESPACE.sub("", payload)
    # Size from the text before decoding anything: a huge payload is refused without the work.
    estimate = len(payload) * 3 // 4 - payload[-2:].count("=")
    if estimate > limits.max_image_bytes:
        raise _too_large(estimate, limits, where)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        try:  # URL-safe base64 is common in data sent by browsers
            data = base64.urlsafe_b64decode(payload)
        except (binascii.Error, ValueError):
            raise ImageRejected(f"{where}: the base64 image data does not decode") from None
    return _data_url(data, declared, limits, where)


def _data_url(data: bytes, declared: str | None, limits: ImageLimits, where: str) -> str:
    if len(data) > limits.max_image_bytes:
        raise _too_large(len(data), limits, where)
    mime = _check_bytes(data, declared, limits, where)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _from_url(url: str, declared: str | None, local: _Local, where: str) -> str:
    limits = local.limits
    url = url.strip()
    if url[:5].lower() == "data:":
        match = _DATA_URL.match(url)
        if match is None or ";base64" not in match.group("params").lower():
            raise ImageRejected(f"{where}: a data: URL must carry base64 image data")
        return _from_base64(url[match.end() :], match.group("mime") or declared, limits, where)
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "file":
        return _from_file_url(url, declared, local, where)
    if scheme not in ("http", "https"):
        raise ImageRejected(
            f"{where}: {scheme or 'a relative'} URL; the guard sends http(s) URLs and base64 "
            "data, and local files under media_root (a path or a file:// URL) only"
        )
    if len(url) > _MAX_URL_CHARS:
        raise ImageRejected(f"{where}: the image URL is longer than {_MAX_URL_CHARS} characters")
    return url


@dataclass(frozen=True, slots=True)
class _Local:
    """Where local image files may be read from (``root``: resolved, or None for nowhere), by
    when (``deadline``, ``time.monotonic()``), and the limits every image is held to."""

    limits: ImageLimits
    root: Path | None = None
    deadline: float | None = None


def resolve_media_root(media_root: str | os.PathLike[str]) -> Path:
    """The folder local images may be read from, resolved; raises ``ValueError`` unless it is
    an existing directory (a typo would otherwise refuse every local image at run time)."""
    try:
        root = Path(media_root).resolve(strict=True)
    except (OSError, ValueError, TypeError, RuntimeError):
        root = None
    if root is None or not root.is_dir():
        raise ValueError(f"media_root must be an existing directory, got {media_root!r}")
    return root


def _inside(path: str, root: Path) -> str | None:
    """``path`` resolved (relative to ``root``; symlinks and ``..`` applied) when it stays
    inside ``root``, else None. Nothing is opened: ``realpath`` only reads links."""
    try:
        real = os.path.realpath(os.path.join(root, path))
        if os.path.commonpath([real, str(root)]) == str(root):
            return real
    except (OSError, ValueError):
        pass
    return None


def _read_regular(real: str, local: _Local) -> bytes | str:
    """The bytes of the regular file ``real``, or why it was not read."""
    limit = local.limits.max_image_bytes
    try:
        info = os.stat(real)
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        if info.st_size > limit:
            return f"{info.st_size:,} bytes, over the limit"
        fd = os.open(real, _OPEN_FLAGS)
        try:
            opened = os.fstat(fd)  # what was opened: the same regular file, not a swap
            if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (
                info.st_dev, info.st_ino,
            ):  # fmt: skip
                return "the file changed between its check and its opening"
            chunks: list[bytes] = []
            total = 0
            while True:
                if local.deadline is not None and time.monotonic() > local.deadline:
                    return "the check's timeout passed while reading"
                chunk = os.read(fd, min(_READ_CHUNK, limit + 1 - total))
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:
                    return "the file grew past the limit while being read"
        finally:
            os.close(fd)
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"


def _from_path(path: str, declared: str | None, local: _Local, where: str) -> str:
    if local.root is None:
        raise ImageRejected(_NO_ROOT.format(where=where))
    refused = ImageRejected(_NOT_READ.format(where=where, limit=local.limits.max_image_bytes))
    if local.deadline is not None and time.monotonic() > local.deadline:
        why: str | bytes = "the check's timeout passed before reading"
    else:
        real = _inside(path, local.root)
        why = "outside media_root" if real is None else _read_regular(real, local)
    if isinstance(why, str):
        logger.debug("llamashield: local image %r not read: %s", path, why)
        raise refused
    try:
        return _data_url(why, declared, local.limits, where)
    except ImageRejected as exc:
        logger.debug("llamashield: local image %r not read: %s", path, exc)
        raise refused from None


def _from_file_url(url: str, declared: str | None, local: _Local, where: str) -> str:
    """A ``file://`` URL is a local path: read under ``media_root`` like one, or refused."""
    if local.root is None:
        raise ImageRejected(_NO_ROOT.format(where=where))
    parts = urlsplit(url)
    if parts.netloc.lower() not in ("", "localhost"):  # a file on another host: never read
        logger.debug("llamashield: local image %r not read: a remote file URL", url)
        raise ImageRejected(_NOT_READ.format(where=where, limit=local.limits.max_image_bytes))
    return _from_path(url2pathname(parts.path), declared, local, where)


def _text(value: Any) -> str | None:
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("ascii")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) and value else None


def image_url_for(
    part: Mapping[str, Any],
    limits: ImageLimits,
    where: str = "image",
    *,
    media_root: Path | None = None,
    deadline: float | None = None,
) -> str:
    """The ``image_url`` URL a chat backend sends for one image part of any known shape.

    Raises ``ImageRejected`` (the guard's error policy then decides) for an image that cannot
    be sent faithfully: over the limits, not an accepted format, a provider ``file_id`` or
    ``file_uri``, a local path or ``file://`` URL that is not a regular file inside
    ``media_root`` (None reads no local file) or is not read by ``deadline``
    (``time.monotonic()``).

    Example::

        >>> image_url_for({"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
        ...               ImageLimits())
        'https://x.test/a.png'
    """
    root = None if media_root is None else Path(os.path.realpath(media_root))
    local = _Local(limits, root, deadline)
    declared = _text(part.get("mime_type") or part.get("image_mimetype") or part.get("media_type"))
    # OpenAI chat: {"type": "image_url", "image_url": {"url": ...}} or {"image_url": "..."};
    # OpenAI responses: {"type": "input_image", "image_url": "..."}.
    image_url = part.get("image_url")
    if isinstance(image_url, Mapping):
        image_url = image_url.get("url")
    if (url := _text(image_url)) is not None:
        return _from_url(url, declared, local, where)
    # Anthropic: {"type": "image", "source": {"type": "base64"|"url", ...}}.
    source = part.get("source")
    if isinstance(source, Mapping):
        media_type = _text(source.get("media_type")) or declared
        if (data := _text(source.get("data"))) is not None:
            return _from_base64(data, media_type, limits, where)
        if (url := _text(source.get("url"))) is not None:
            return _from_url(url, media_type, local, where)
    # LangChain v0: {"type": "image", "source_type": "base64"|"url", "data"|"url": ...}.
    if part.get("source_type") == "base64" and (data := _text(part.get("data"))) is not None:
        return _from_base64(data, declared, limits, where)
    # LangChain v1 {"base64": ...}; LlamaIndex ImageBlock {"image": <base64 text or bytes>}.
    for key in ("base64", "image", "data"):
        if (data := _text(part.get(key))) is not None:
            return _from_base64(data, declared, limits, where)
    if isinstance(raw := part.get("image"), bytes | bytearray):  # raw bytes that are no base64
        return _data_url(bytes(raw), declared, limits, where)
    if (url := _text(part.get("url"))) is not None:
        return _from_url(url, declared, local, where)
    if (path := _text(part.get("path"))) is not None:
        return _from_path(path, declared, local, where)
    if part.get("file_uri") is not None:  # Gemini file_data, a Bedrock s3Location
        raise ImageRejected(
            f"{where}: an image stored at the provider (a Gemini file URI or an S3 location) "
            "cannot be read by the guard; pass its bytes (inline data)"
        )
    if part.get("file_id") or (isinstance(source, Mapping) and source.get("file_id")):
        raise ImageRejected(
            f"{where}: an image stored at the provider (file_id) cannot be read by the guard; "
            "pass its bytes or URL"
        )
    raise ImageRejected(f"{where}: no image URL, base64 data or path in the part")


# -- the guard's side: which media policy applies, and the images a conversation sends ---------

MediaMode = Literal["judge", "block", "text_only"]
MEDIA_MODES: tuple[MediaMode, ...] = ("judge", "block", "text_only")


def why_no_images(backend: Backend, taxonomy: Taxonomy) -> str | None:
    """Why this guard cannot show images to its model, or None when it can (media="judge")."""
    model = backend.model
    if taxonomy.generation != 4:
        return (
            f"{model} is Llama Guard {taxonomy.generation}, which reads text only; "
            f"{IMAGE_MODEL_HINT} (Llama Guard 4) would read the image"
        )
    if taxonomy.needs_own_prompt:
        what = "a custom category policy" if taxonomy.custom else "excluding categories"
        return (
            f"{what} needs llamashield's own raw prompt, which cannot carry images; "
            f"use the model's own categories to have {model} read the image"
        )
    can = backend.capabilities
    if not can.supports_images:
        return f"{type(backend).__name__} sends text prompts only, not images: use {can.image_hint}"
    return None


def resolve_media(media: str | None, backend: Backend, taxonomy: Taxonomy) -> MediaMode:
    """The media policy a guard runs: the user's, or "judge" where the model reads images.

    A "judge" that cannot apply is a ``ConfigurationError`` saying why and what would.
    """
    if media is None:
        return "judge" if why_no_images(backend, taxonomy) is None else "block"
    if media not in MEDIA_MODES:
        raise ConfigurationError(f"media must be one of {MEDIA_MODES}, got {media!r}")
    if media == "judge" and (reason := why_no_images(backend, taxonomy)) is not None:
        raise ConfigurationError(f'media="judge" cannot apply: {reason}')
    return media


def with_images(
    conversation: Sequence[Turn],
    limits: ImageLimits,
    *,
    media_root: Path | None = None,
    deadline: float | None = None,
) -> tuple[Turn, ...]:
    """The turns with their image parts attached as ``image_url`` URLs (``Turn.images``).

    Raises ``ImageRejected`` when a part is not an image Llama Guard 4 can read (audio, video,
    files), when the conversation has more than ``max_images`` images, or for any image
    ``image_url_for`` refuses (local files: read only under ``media_root``, by ``deadline``).
    """
    count = sum(1 for turn in conversation for part in turn.media if part.kind == "image")
    if count > limits.max_images:
        raise ImageRejected(
            f"{count} images in the conversation exceed max_images={limits.max_images} (Meta "
            "tested Llama Guard 4 with up to 5): judge them in separate checks"
        )
    turns: list[Turn] = []
    for index, turn in enumerate(conversation):
        other = sorted({part.kind for part in turn.media if part.kind != "image"})
        if other:
            raise ImageRejected(
                f"{'/'.join(other)} parts cannot be judged: Llama Guard 4 reads text and images"
            )
        images = tuple(
            image_url_for(
                part.data,
                limits,
                f"turn {index + 1}, image {number + 1}",
                media_root=media_root,
                deadline=deadline,
            )
            for number, part in enumerate(turn.media)
        )
        turns.append(replace(turn, images=images, media_only=False) if images else turn)
    return tuple(turns)
