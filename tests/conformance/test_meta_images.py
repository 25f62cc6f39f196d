"""Images next to text: what a Llama Guard 4 chat server receives is Meta's check, images aside.

The guard's request is captured on the wire (the loopback server records it). From its
messages, the text parts are what a server renders Llama Guard 4's prompt from, and the
``image_url`` parts are the images it encodes. The test rebuilds the check as Meta's own code
does for a vision guard: llama-stack's Llama Guard user message from the wire's turns, with the
images before it in one user message, encoded by llama-models' Llama 4 ``ChatFormat``. Decoded,
with each ``<|image_start|>...<|image_end|>`` span taken out, it must be exactly llamashield's
Llama Guard 4 prompt for the conversation (which ``test_meta_prompts`` checks byte for byte);
and every image of the conversation must be on the wire, in order, as bytes that decode.

Meta's Llama 4 encoder needs torchvision for its pixel transforms, whose CPU build is not on
PyPI: the encoder here gets one 336 px tile per image (what its transform returns for a small
picture), so the image tokens, the tokenizer, the headers and the BOS are Meta's code, and the
images are checked to decode with Pillow instead of inside the encoder.
"""

from __future__ import annotations

import base64
import io
import re
import sys
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from llamashield import LLAMA_GUARD_4
from llamashield._conversation import Turn, neutralize
from llamashield._prompts import build_prompt
from llamashield.testing import LoopbackServer
from tests._support.properties import pipeline_property
from tests.conformance.meta_reference import Meta

pytestmark = pytest.mark.conformance
PIL = pytest.importorskip("PIL.Image", reason="decoding the wire's images needs Pillow")
torch = pytest.importorskip("torch", reason="Meta's Llama 4 image tokens are counted on tensors")

LG4 = "meta-llama/Llama-Guard-4-12B"
SETTINGS = pipeline_property(25)
_IMAGE_SPAN = re.compile(r"<\|image_start\|>.*?<\|image_end\|>", re.S)
WORDS = ["How", "do", "I", "use", "this", "?", "knife", "photo", "café", "漢字", "Привет", "🙂",
         "<tag>", "[x]", "100%"]  # fmt: skip
TEXT = st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join)


def real_png(seed: int) -> bytes:
    buffer = io.BytesIO()
    PIL.new("RGB", (3 + seed, 2 + seed), (40 * seed % 256, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def vision_chat(meta: Meta) -> Any:
    """Meta's Llama 4 ChatFormat with vision on: Llama Guard 4's 336 px tiles, 14 px patches."""
    package = type(meta.chat4).__module__.rsplit(".", 1)[0]
    args = sys.modules[f"{package}.args"]
    chat = type(meta.chat4)(meta.tokenizer4)
    chat.vision_args = args.VisionArgs(
        image_size=args.Size(height=336, width=336), patch_size=args.Size(height=14, width=14),
        dim=1, n_layers=1, n_heads=1, mlp_ratio=1.0, output_dim=1, pixel_shuffle_ratio=0.5,
    )  # fmt: skip
    chat.dynamic_image_transform = lambda image, max_num_chunks: (
        torch.zeros(1, 3, 336, 336),
        (1, 1),
    )
    chat.image_transform = lambda image: torch.zeros(3, 336, 336)
    return chat


def meta_with_images(meta: Meta, turns: Sequence[tuple[str, str]], images: list[bytes]) -> str:
    """Meta's check: llama-stack's message after the images, in the Llama 4 dialog, decoded."""
    text = meta.stack_message(turns, LG4)
    items = [meta.datatypes.RawMediaItem(data=data) for data in images]
    message = meta.datatypes.RawMessage(
        role="user", content=[*items, meta.datatypes.RawTextItem(text=text)]
    )
    encoded = vision_chat(meta).encode_dialog_prompt([message])
    assert len(encoded.images or []) == len(images)
    return str(meta.tokenizer4.decode(encoded.tokens))


def wire(server: LoopbackServer) -> tuple[list[tuple[str, str]], list[bytes]]:
    """The turns (role, text) and images of the guard's last request."""
    turns, images = [], []
    for message in server.bodies[-1]["messages"]:
        content = message["content"]
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        text = "\n".join(p["text"] for p in parts if p["type"] == "text")
        turns.append(("user" if message["role"] == "user" else "agent", text))
        for part in parts:
            if part["type"] == "image_url":
                head, _, payload = part["image_url"]["url"].partition(",")
                assert head == "data:image/png;base64"
                images.append(base64.b64decode(payload))
    return turns, images


@st.composite
def conversations(draw: st.DrawFn) -> tuple[list[str], list[list[int]]]:
    texts = draw(st.lists(TEXT, min_size=1, max_size=4))
    budget = 5
    pictures = []
    for _ in texts:
        count = draw(st.integers(0, min(2, budget)))
        budget -= count
        pictures.append([draw(st.integers(0, 9)) for _ in range(count)])
    return texts, pictures


def parts(text: str, seeds: list[int]) -> list[dict[str, str]]:
    images = [base64.b64encode(real_png(seed)).decode() for seed in seeds]
    return [{"type": "text", "text": text}] + [
        {"type": "image", "base64": data, "mime_type": "image/png"} for data in images
    ]


@given(conversations())
@SETTINGS
def test_the_text_around_images_is_meta_s_llama_guard_4_check(
    meta: Meta, server: LoopbackServer, conversation: tuple[list[str], list[list[int]]]
) -> None:
    texts, pictures = conversation
    assume(all(neutralize(t) == t for t in texts))
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": parts(text, pictures[i])}
        for i, text in enumerate(texts)
    ]
    server.guard(model=LG4).check(messages)
    turns, images = wire(server)
    # Every image, in order, as bytes that decode; and the text, as it was.
    assert images == [real_png(seed) for seeds in pictures for seed in seeds]
    for data in images:
        PIL.open(io.BytesIO(data)).verify()
    assert [text for _, text in turns] == texts
    ours = build_prompt(tuple(Turn(role, text) for role, text in turns), LLAMA_GUARD_4)  # type: ignore[arg-type]
    rendered = meta_with_images(meta, turns, images)
    assert _IMAGE_SPAN.sub("", rendered) == ours
    assert len(_IMAGE_SPAN.findall(rendered)) == len(images)


def test_meta_puts_each_image_s_tokens_before_the_prompt_text(meta: Meta) -> None:
    rendered = meta_with_images(meta, [("user", "How do I use this?")], [real_png(1)])
    head = "<|begin_of_text|><|header_start|>user<|header_end|>\n\n"
    assert rendered.startswith(head + "<|image_start|><|image|><|patch|>")
    assert "<|image_end|>Task: Check if there is unsafe content in 'User' messages" in rendered
