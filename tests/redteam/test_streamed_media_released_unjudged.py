"""A streamed answer's media parts pass the guard's media policy unjudged. invoke() reads the
answer with every part (_inputs.output_message -> to_judge keeps media for the core), so under
media="block" (Llama Guard 2/3's default) an answer with an image is refused, and under
media="judge" Llama Guard 4 would see the image. stream()/astream() read each chunk through
_stream._chunk_text -> output_text, i.e. `judged(...).text` only: an image chunk has no text,
its window has "no new words" (streaming.StreamWindows._schedule releases it without asking
the guard), and the image reaches the consumer. The same chain decides differently by how it
is called."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import RunnableGenerator
from langchain_llamashield import guard_runnable

from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


def chunks() -> list[AIMessageChunk]:
    return [AIMessageChunk(content=[{"type": "text", "text": "Here it is."}]),
            AIMessageChunk(content=[IMAGE])]  # fmt: skip


def generate(values: Iterator[Any]) -> Iterator[AIMessageChunk]:
    for _ in values:
        pass
    yield from chunks()


async def agenerate(values: AsyncIterator[Any]) -> AsyncIterator[AIMessageChunk]:
    async for _ in values:
        pass
    for chunk in chunks():
        yield chunk


def chain() -> Any:
    guard = LlamaGuard(SimulatedBackend(), media="block")
    return guard_runnable(RunnableGenerator(generate, agenerate), guard, on_unsafe="refuse")


def has_image(value: Any) -> bool:
    return "iVBORw0KGgo" in repr(value)  # the image data itself


def test_control_invoke_applies_the_media_policy() -> None:
    out = chain().invoke("draw me something")
    assert not has_image(out) and "can't help" in str(out.content)


def test_a_streamed_image_meets_the_media_policy() -> None:
    streamed = list(chain().stream("draw me something"))
    assert not has_image(streamed), f"released: {streamed}"


def test_an_astreamed_image_meets_the_media_policy() -> None:
    async def read() -> list[Any]:
        return [c async for c in chain().astream("draw me something")]

    streamed = asyncio.run(read())
    assert not has_image(streamed), f"released: {streamed}"
