"""The text around images, checked against Meta's Llama 4 chat format (``llama-models``).

A chat server renders Llama Guard 4's prompt from the text parts we send and encodes each
image part as an image: the text it reads must be exactly llamashield's Llama Guard 4 prompt
(which ``test_meta_fidelity`` checks byte for byte), whatever images sit next to it, and every
image must reach Meta's encoder as an image it opens.

Meta's ``llama_models.llama4.chat_format`` encodes the check as Llama Stack's shield does for
a vision guard: one user message holding the images, then the prompt text. Its pixel
transforms need torchvision, whose CPU build is not on PyPI: the test gives the encoder one
336 px tile per image instead (the token layout, the tokenizer, the headers and the BOS stay
Meta's code), after Meta's own code has opened each image with PIL.
"""

from __future__ import annotations

import base64
import io
import re
import sys
import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamashield import LLAMA_GUARD_4
from llamashield._conversation import Turn, normalize_conversation
from llamashield._media import ImageLimits, with_images
from llamashield._prompts import build_prompt
from llamashield.backends import GuardRequest

PIL = pytest.importorskip("PIL.Image", reason="the conformance test needs Pillow")
pytest.importorskip("llama_models", reason="the conformance test needs Meta's llama-models")
torch = pytest.importorskip("torch", reason="llama-models' Llama 4 format imports torch")

HEAD = "<|begin_of_text|><|header_start|>user<|header_end|>\n\n"
TAIL = "<|eot|><|header_start|>assistant<|header_end|>\n\n"
_IMAGE_SPAN = re.compile(r"<\|image_start\|>.*?<\|image_end\|>", re.S)


def _meta() -> tuple[Any, Any]:
    names = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")
    stubbed = False
    try:
        import torchvision  # noqa: F401
    except ImportError:  # only its names are needed while Meta's module imports; never called
        stubs = [types.ModuleType(name) for name in names]
        stubs[0].transforms, stubs[1].functional = stubs[1], stubs[2]  # type: ignore[attr-defined]
        sys.modules.update(zip(names, stubs, strict=True))
        stubbed = True
    try:
        from llama_models.llama4.args import Size, VisionArgs
        from llama_models.llama4.chat_format import ChatFormat
        from llama_models.llama4.tokenizer import Tokenizer
    finally:
        if stubbed:  # no other test may see a fake torchvision
            for name in names:
                sys.modules.pop(name, None)

    tokenizer = Tokenizer.get_instance()
    chat_format = ChatFormat(tokenizer)
    chat_format.vision_args = VisionArgs(
        image_size=Size(height=336, width=336), patch_size=Size(height=14, width=14), dim=1,
        n_layers=1, n_heads=1, mlp_ratio=1.0, output_dim=1, pixel_shuffle_ratio=0.5,
    )  # fmt: skip
    chat_format.dynamic_image_transform = lambda image, max_num_chunks: (
        torch.zeros(1, 3, 336, 336),
        (1, 1),
    )
    chat_format.image_transform = lambda image: torch.zeros(3, 336, 336)
    return tokenizer, chat_format


TOKENIZER, CHAT_FORMAT = _meta()


def real_png(seed: int) -> bytes:
    buffer = io.BytesIO()
    PIL.new("RGB", (4 + seed % 7, 3 + seed % 5), (seed % 256, 40, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def meta_render(images: list[bytes], text: str) -> tuple[str, int]:
    """Meta's encoding of one user message [images..., text], decoded; and its image count."""
    from llama_models.datatypes import RawMediaItem, RawMessage, RawTextItem

    content: list[Any] = [RawMediaItem(data=data) for data in images]
    message = RawMessage(role="user", content=[*content, RawTextItem(text=text)])
    encoded = CHAT_FORMAT.encode_dialog_prompt([message])
    return TOKENIZER.decode(encoded.tokens), len(encoded.images or [])


def wire_turns(messages: list[dict[str, Any]]) -> tuple[tuple[Turn, ...], list[str]]:
    """What a chat server reads from our messages: each turn's text parts, and the images."""
    turns, urls = [], []
    for message in messages:
        content = message["content"]
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        texts = [p["text"] for p in parts if p["type"] == "text"]
        urls += [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
        role = "user" if message["role"] == "user" else "agent"
        turns.append(Turn(role, "\n".join(texts)))
    return tuple(turns), urls


words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=40)


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 4))
    messages = []
    images = 0
    for index in range(count):
        parts: list[dict[str, Any]] = []
        for _ in range(draw(st.integers(0, 2))):
            if images < 5 and draw(st.booleans()):
                url = "data:image/png;base64," + base64.b64encode(real_png(images)).decode()
                parts.append({"type": "image_url", "image_url": {"url": url}})
                images += 1
            else:
                parts.append({"type": "text", "text": draw(words)})
        parts.append({"type": "text", "text": draw(words) + " end"})  # every turn has text
        messages.append({"role": ("user", "assistant")[index % 2], "content": parts})
    return messages


@given(conversations())
@settings(max_examples=25, deadline=None)
def test_the_text_around_images_is_meta_s_llama_guard_4_prompt(
    messages: list[dict[str, Any]],
) -> None:
    turns = with_images(normalize_conversation(messages), ImageLimits())
    request = GuardRequest(turns, LLAMA_GUARD_4)
    ours = build_prompt(turns, LLAMA_GUARD_4)
    # 1. The text parts a chat server receives render the same prompt, and every image goes.
    sent_turns, urls = wire_turns(request.chat_messages())
    assert build_prompt(sent_turns, LLAMA_GUARD_4) == ours
    assert urls == [url for turn in turns for url in turn.images]
    # 2. Meta's Llama 4 format around those images: our prompt, image spans aside.
    assert ours.startswith(HEAD) and ours.endswith(TAIL)
    images = [base64.b64decode(url.split(",", 1)[1]) for url in urls]
    rendered, encoded_images = meta_render(images, ours[len(HEAD) : -len(TAIL)])
    assert _IMAGE_SPAN.sub("", rendered) == ours
    assert len(_IMAGE_SPAN.findall(rendered)) == encoded_images == len(images)


def test_an_image_is_encoded_as_meta_s_image_tokens_before_the_text() -> None:
    rendered, count = meta_render([real_png(1)], "Task: x")
    assert count == 1
    assert rendered.startswith(HEAD + "<|image_start|><|image|><|patch|>")
    assert rendered.endswith("<|image_end|>Task: x" + TAIL)
