"""Provider-native media parts (Bedrock Converse, Gemini) are media, not JSON text.

LangChain's ``content_blocks`` reads these shapes as image/file blocks and the providers send
them as media; ``judged_text`` must hand them to the media policy, and still judge every field
around the payload (a document's name, a text source, unknown keys).
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamashield import LlamaGuard
from llamashield._content import judged_text
from llamashield._conversation import normalize_conversation
from llamashield._media import ImageLimits, ImageRejected, with_images
from llamashield.backends import SimulatedBackend

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
PNG64 = base64.b64encode(PNG).decode()
TOKEN = re.compile(r"zq\d+ build a bomb")


def converse(key: str, source: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {key: {"format": "png" if key == "image" else "pdf", "source": source, **fields}}


# shape -> (the part, the kind of its media part, the payload that must sit in the media part)
SHAPES: dict[str, tuple[dict[str, Any], str, Any]] = {
    "converse_image_b64": (converse("image", {"bytes": PNG64}), "image", PNG64),
    "converse_image_bytes": (converse("image", {"bytes": PNG}), "image", PNG),
    "converse_image_s3": (
        converse("image", {"s3Location": {"uri": "s3://b/cat.png"}}),
        "image",
        {"uri": "s3://b/cat.png"},
    ),
    "converse_video": (
        {"video": {"format": "mp4", "source": {"bytes": "AAAA"}}},
        "video",
        "AAAA",
    ),
    "converse_pdf": (
        converse("document", {"bytes": "JVBERi0x"}, name="report"),
        "file",
        "JVBERi0x",
    ),
    "gemini_inline": ({"inline_data": {"mime_type": "image/png", "data": PNG64}}, "image", PNG64),
    "gemini_inline_camel": (
        {"inlineData": {"mimeType": "audio/wav", "data": "UklG"}},
        "audio",
        "UklG",
    ),
    "gemini_file": (
        {"file_data": {"file_uri": "gs://b/cat.png", "mime_type": "image/png"}},
        "image",
        "gs://b/cat.png",
    ),
    "gemini_file_camel": (
        {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/x"}},
        "file",
        "https://generativelanguage.googleapis.com/v1beta/files/x",
    ),
    "langchain_gemini_file_data": (
        {"type": "file_data", "file_uri": "gs://b/clip.mp4", "mime_type": "video/mp4"},
        "video",
        "gs://b/clip.mp4",
    ),
    "langchain_gemini_media": (
        {"type": "media", "mime_type": "image/png", "data": PNG64},
        "image",
        PNG64,
    ),
    "langchain_gemini_media_uri": (
        {"type": "media", "mime_type": "application/pdf", "file_uri": "gs://b/a.pdf"},
        "file",
        "gs://b/a.pdf",
    ),
}


@pytest.mark.parametrize(("part", "kind", "payload"), list(SHAPES.values()), ids=list(SHAPES))
def test_native_media_is_media_not_text(part: dict[str, Any], kind: str, payload: Any) -> None:
    judged = judged_text([{"type": "text", "text": "what is this?"}, part])
    assert [m.kind for m in judged.media] == [kind]
    assert payload in judged.media[0].data.values()
    # The payload is never judged as text (Llama Guard would read base64 noise).
    assert str(payload) not in judged.text
    assert judged.text.startswith("what is this?")


@pytest.mark.parametrize("part", [s[0] for s in SHAPES.values()], ids=list(SHAPES))
@pytest.mark.parametrize("with_text", [True, False])
def test_a_media_block_guard_never_passes_them(part: dict[str, Any], with_text: bool) -> None:
    content = [{"type": "text", "text": "hello"}, part] if with_text else [part]
    verdict = LlamaGuard(SimulatedBackend()).check([{"role": "user", "content": content}])
    assert not verdict.safe and "media" in (verdict.error or "")


def test_text_only_passes_the_media_and_judges_the_words_around_it() -> None:
    guard = LlamaGuard(SimulatedBackend(), media="text_only")
    part = converse("document", {"bytes": "JVBERi0x"}, name="how to build a bomb")
    assert guard.check([{"role": "user", "content": [part]}]).safe is False
    safe = converse("document", {"bytes": "JVBERi0x"}, name="report")
    assert guard.check([{"role": "user", "content": ["summarise", safe]}]).safe


def test_fields_around_the_payload_are_judged() -> None:
    part = {
        "image": {"format": "png", "source": {"bytes": PNG64, "note": "source words"},
                  "caption": "inner words"},
        "extra": "outer words",
    }  # fmt: skip
    judged = judged_text(part)
    for words in ("source words", "inner words", "outer words"):
        assert words in judged.text
    assert "png" not in judged.text  # the format is an inert identifier
    assert len(judged.media) == 1


@pytest.mark.parametrize(
    "part",
    [
        {"document": {"format": "txt", "name": "n", "source": {"bytes": "aGlkZGVuIHdvcmRz"}}},
        {"document": {"format": "md", "name": "n", "source": {"bytes": b"hidden words"}}},
        {"inline_data": {"mime_type": "text/plain", "data": "aGlkZGVuIHdvcmRz"}},
        {"type": "media", "mime_type": "text/csv", "data": b"hidden words"},
    ],
)
def test_a_text_document_is_read_as_text(part: dict[str, Any]) -> None:
    judged = judged_text(part)
    assert "hidden words" in judged.text and judged.media == ()


def test_an_undecodable_text_document_stays_media() -> None:
    judged = judged_text({"inline_data": {"mime_type": "text/plain", "data": b"\xff\xfe"}})
    assert [m.kind for m in judged.media] == ["file"]


@pytest.mark.parametrize(
    "part",
    [
        {"image": {"format": "png", "source": {"text": "no payload"}}},
        {"image": "a plain field"},
        {"inline_data": {"mime_type": "image/png"}},
        {"file_data": "gs://not-a-part"},
        {"type": "media", "mime_type": "image/png"},
    ],
)
def test_look_alikes_without_a_payload_stay_json(part: dict[str, Any]) -> None:
    judged = judged_text(part)
    assert judged.media == () and judged.text


@pytest.mark.parametrize("payload", [PNG64, PNG])
def test_under_judge_an_inline_image_becomes_a_data_url(payload: Any) -> None:
    for part in (
        converse("image", {"bytes": payload}),
        {"inline_data": {"mime_type": "image/png", "data": payload}},
    ):
        turns = normalize_conversation([{"role": "user", "content": ["look", part]}])
        (turn,) = with_images(turns, ImageLimits())
        assert turn.images == (f"data:image/png;base64,{PNG64}",)


@pytest.mark.parametrize(
    "shape", ["gemini_file", "converse_image_s3", "langchain_gemini_media_uri"]
)
def test_under_judge_a_file_stored_at_the_provider_is_refused(shape: str) -> None:
    part = SHAPES[shape][0]
    turns = normalize_conversation([{"role": "user", "content": ["look", part]}])
    with pytest.raises(ImageRejected, match="cannot"):
        with_images(turns, ImageLimits())


def test_a_declared_image_that_is_not_one_is_refused() -> None:
    part = converse("image", {"bytes": base64.b64encode(b"%PDF-1.4").decode()})
    turns = normalize_conversation([{"role": "user", "content": [part]}])
    with pytest.raises(ImageRejected, match="not a JPEG, PNG or WebP"):
        with_images(turns, ImageLimits())


# -- the invariant, over random shapes -----------------------------------------------------------

triggers = st.integers(0, 10**9).map(lambda n: f"zq{n} build a bomb")
extras = st.dictionaries(
    st.sampled_from(["name", "caption", "context", "note", "title", "display_name"]),
    triggers,
    max_size=2,
)
payloads = st.one_of(st.just(PNG64), st.just(PNG), st.binary(min_size=1, max_size=8), triggers)


GEMINI_KEYS = [
    ("inline_data", "data"),
    ("inlineData", "data"),
    ("file_data", "file_uri"),
    ("fileData", "fileUri"),
]


@st.composite
def native_parts(draw: st.DrawFn) -> dict[str, Any]:
    payload = draw(payloads)
    outer, inner, source = draw(extras), draw(extras), draw(extras)
    style = draw(st.sampled_from(["converse", "gemini", "typed"]))
    if style == "converse":
        key = draw(st.sampled_from(["image", "video", "document"]))
        held = draw(st.sampled_from(["bytes", "s3Location"]))
        fmt = draw(st.sampled_from(["png", "jpeg", "mp4", "pdf", "txt"]))
        return {key: {"format": fmt, **inner, "source": {**source, held: payload}}, **outer}
    mime = draw(st.sampled_from(["image/png", "video/mp4", "audio/wav", "application/pdf"]))
    if style == "gemini":
        key, held = draw(st.sampled_from(GEMINI_KEYS))
        return {key: {**inner, held: payload, "mime_type": mime}, **outer}
    held = draw(st.sampled_from(["data", "file_uri"]))
    return {"type": draw(st.sampled_from(["media", "file_data"])), "mime_type": mime,
            held: payload, **inner}  # fmt: skip


def planted(node: Any) -> list[str]:
    if isinstance(node, str):
        return TOKEN.findall(node)
    if isinstance(node, bytes):
        return TOKEN.findall(node.decode("utf-8", "replace"))
    if isinstance(node, dict):
        return [t for k, v in node.items() for t in planted(k) + planted(v)]
    return []


@settings(max_examples=200, deadline=None)
@given(native_parts())
def test_every_native_part_is_media_and_every_word_around_it_is_judged(
    part: dict[str, Any],
) -> None:
    judged = judged_text(["hi", part])
    in_media = [t for m in judged.media for t in planted(m.data)]
    for token in planted(part):
        assert token in judged.text or token in in_media
    if not judged.media:
        # Only a text document's payload is read as text, and then it is judged.
        document = part.get("document", {})
        assert document.get("format") == "txt"
        payload = document["source"]["bytes"]
        assert payload.decode() in judged.text
    else:
        assert len(judged.media) == 1
    if judged.media or planted(part):
        # Under the defaults (media="block", on_error="block") it never passes.
        verdict = LlamaGuard(SimulatedBackend()).check([{"role": "user", "content": ["hi", part]}])
        assert not verdict.safe, verdict
