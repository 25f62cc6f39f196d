"""Tiny image byte strings for tests: real magic numbers and chunk layouts, a marker inside.

They are not decodable pictures (nothing here decodes pixels); they carry exactly what the
guard and the loopback server read: the format signature, PNG/WebP chunk structure, and the
bytes that the server's ``UNSAFE-IMAGE`` marker is searched in.
"""

from __future__ import annotations

import base64
import struct
import zlib

from llamashield.testing import LoopbackServer

MARKER = b"UNSAFE-IMAGE"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(payload: bytes = b"", *, animated: bool = False) -> bytes:
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    actl = png_chunk(b"acTL", struct.pack(">II", 2, 0)) if animated else b""
    text = png_chunk(b"tEXt", b"Comment\x00" + payload) if payload else b""
    idat = png_chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + actl + text + idat + png_chunk(b"IEND", b"")


def jpeg(payload: bytes = b"") -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + payload + b"\xff\xd9"


def webp(payload: bytes = b"", *, animated: bool = False) -> bytes:
    if animated:
        body = b"WEBPVP8X" + struct.pack("<I", 10) + bytes([0x02, 0, 0, 0]) + b"\x00" * 6
    else:
        body = b"WEBPVP8 " + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def gif(payload: bytes = b"") -> bytes:
    return b"GIF89a" + payload + b";"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{b64(data)}"


def sent_images(server: LoopbackServer) -> list[str]:
    """The image URLs (data URLs included) of the last request the loopback server received."""
    return [
        part["image_url"]["url"]
        for message in server.bodies[-1]["messages"]
        if isinstance(message["content"], list)
        for part in message["content"]
        if part.get("type") == "image_url"
    ]
