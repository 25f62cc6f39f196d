"""Every image shape in both adapters reaches Llama Guard 4 as an image, or the call is blocked.

Property tests: conversations of LangChain messages and of LlamaIndex ``ChatMessage`` blocks,
text plus images in every shape each framework writes, with the ``UNSAFE-IMAGE`` marker planted
in one image at a random place. Either the guard's request to the (loopback) model carried the
marked image, and a marked last turn was judged unsafe before the wrapped model ran, or the
call was blocked; never does the wrapped model see a marked image unjudged.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamashield import UnsafeContentError
from llamashield.testing import LoopbackServer
from tests.images.image_data import MARKER, b64, data_url, jpeg, png, webp

LG4 = "meta-llama/Llama-Guard-4-12B"
SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

lc_messages = pytest.importorskip("langchain_core.messages")
li_types = pytest.importorskip("llama_index.core.base.llms.types")


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


def marker_reached_the_guard(server: LoopbackServer, since: int) -> bool:
    """Whether a request to the guard model since ``since`` carried the marked image."""
    for body in server.bodies[since:]:
        if body.get("model") != LG4:
            continue
        for message in body["messages"]:
            for part in message["content"] if isinstance(message["content"], list) else ():
                if part.get("type") != "image_url":
                    continue
                url = part["image_url"]["url"]
                seen = base64.b64decode(url.split(",", 1)[1]) if url.startswith("data:") else url
                if (MARKER if isinstance(seen, bytes) else MARKER.decode()) in seen:
                    return True
    return False


def image_bytes(kind: str, marked: bool) -> bytes:
    payload = MARKER if marked else b"a harmless picture"
    return {"png": png, "jpeg": jpeg, "webp": webp}[kind](payload)


MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
LC_SHAPES = ("openai_url", "openai_str", "input_image", "v0_base64", "v0_url", "v1_base64",
             "v1_url", "anthropic_base64", "anthropic_url")  # fmt: skip


def lc_image(shape: str, kind: str, marked: bool) -> dict[str, Any]:
    data = image_bytes(kind, marked)
    mime = MIME[kind]
    url = f"https://img.test/{'UNSAFE-IMAGE' if marked else 'cat'}.{kind}"
    blocks: dict[str, dict[str, Any]] = {
        "openai_url": {"type": "image_url", "image_url": {"url": data_url(data, mime)}},
        "openai_str": {"type": "image_url", "image_url": data_url(data, mime)},
        "input_image": {"type": "input_image", "image_url": data_url(data, mime)},
        "v0_base64": {"type": "image", "source_type": "base64", "data": b64(data),
                      "mime_type": mime},
        "v0_url": {"type": "image", "source_type": "url", "url": url},
        "v1_base64": {"type": "image", "base64": b64(data), "mime_type": mime},
        "v1_url": {"type": "image", "url": url},
        "anthropic_base64": {"type": "image", "source": {"type": "base64", "media_type": mime,
                                                         "data": b64(data)}},
        "anthropic_url": {"type": "image", "source": {"type": "url", "url": url}},
    }  # fmt: skip
    return blocks[shape]


@st.composite
def plans(draw: st.DrawFn, shapes: tuple[str, ...]) -> tuple[list[list[Any]], tuple[int, int]]:
    """Turns (user, assistant, ..., user) of parts ("text", str) / ("image", shape, kind);
    and where the marked image is: (turn, part)."""
    count = draw(st.sampled_from([1, 3]))
    turns: list[list[Any]] = []
    for _ in range(count):
        parts: list[Any] = []
        for _ in range(draw(st.integers(1, 3))):
            if draw(st.booleans()):
                parts.append(("text", draw(st.sampled_from(["look", "what is this?", "hi"]))))
            else:
                kind = draw(st.sampled_from(sorted(MIME)))
                parts.append(("image", draw(st.sampled_from(shapes)), kind))
        turns.append(parts)
    images = [(t, p) for t, parts in enumerate(turns) for p, part in enumerate(parts)
              if part[0] == "image"]  # fmt: skip
    if not images:  # plant one
        kind = draw(st.sampled_from(sorted(MIME)))
        turns[-1].append(("image", draw(st.sampled_from(shapes)), kind))
        images = [(count - 1, len(turns[-1]) - 1)]
    return turns, draw(st.sampled_from(images))


def over_the_image_limit(turns: list[list[Any]]) -> bool:
    images: int = sum(part[0] == "image" for parts in turns for part in parts)
    return images > 5  # max_images


class RecordingChat:
    """The wrapped LangChain chat model: records every message list it is given."""

    def __init__(self) -> None:
        from langchain_core.language_models.fake_chat_models import FakeListChatModel

        self.model = FakeListChatModel(responses=["A lovely picture."])
        self.seen: list[Any] = []
        original = self.model._generate

        def spy(messages: Any, *args: Any, **kwargs: Any) -> Any:
            self.seen.append(messages)
            return original(messages, *args, **kwargs)

        object.__setattr__(self.model, "_generate", spy)


@given(plans(LC_SHAPES))
@SETTINGS
def test_langchain_image_shapes_reach_the_guard(
    server: LoopbackServer, plan: tuple[list[list[Any]], tuple[int, int]]
) -> None:
    from langchain_llamashield import guard_runnable

    turns, (marked_turn, marked_part) = plan
    messages = []
    for t, parts in enumerate(turns):
        content = [
            {"type": "text", "text": part[1]} if part[0] == "text"
            else lc_image(part[1], part[2], (t, p) == (marked_turn, marked_part))
            for p, part in enumerate(parts)
        ]  # fmt: skip
        cls = lc_messages.HumanMessage if t % 2 == 0 else lc_messages.AIMessage
        messages.append(cls(content=content))
    chat = RecordingChat()
    guarded = guard_runnable(chat.model, server.guard(model=LG4), check_output=False)
    since = len(server.bodies)
    # Every turn is judged as the last of its prefix: a marked image blocks in any turn.
    with pytest.raises(UnsafeContentError) as caught:
        guarded.invoke(messages)
    blocked = caught.value
    assert blocked.stage == "input" and not chat.seen
    if blocked.verdict.error is not None:  # more pictures than Meta's limit: never sent
        assert over_the_image_limit(turns) and "max_images" in blocked.verdict.error
        return
    # Judged, not refused for an error: every shape here is one the guard can send.
    assert "S1" in blocked.verdict.codes and marker_reached_the_guard(server, since)


LI_SHAPES = ("image_bytes", "image_base64", "url", "path")


def li_block(shape: str, kind: str, marked: bool, folder: Path) -> Any:
    data = image_bytes(kind, marked)
    if shape == "image_bytes":
        return li_types.ImageBlock(image=data, image_mimetype=MIME[kind])
    if shape == "image_base64":
        return li_types.ImageBlock(image=base64.b64encode(data), image_mimetype=MIME[kind])
    if shape == "url":
        name = "UNSAFE-IMAGE" if marked else "cat"
        return li_types.ImageBlock(url=f"https://img.test/{name}.{kind}")
    path = folder / f"{'marked' if marked else 'plain'}.{kind}"
    path.write_bytes(data)
    return li_types.ImageBlock(path=path)


@given(plans(LI_SHAPES))
@SETTINGS
def test_llamaindex_image_blocks_reach_the_guard(
    server: LoopbackServer, tmp_path: Path, plan: tuple[list[list[Any]], tuple[int, int]]
) -> None:
    from llama_index.core.chat_engine import SimpleChatEngine
    from llama_index.core.llms import MockLLM
    from llama_index.llamashield import GuardedChatEngine

    turns, (marked_turn, marked_part) = plan
    history = []
    for t, parts in enumerate(turns):
        blocks = [
            li_types.TextBlock(text=part[1]) if part[0] == "text"
            else li_block(part[1], part[2], (t, p) == (marked_turn, marked_part), tmp_path)
            for p, part in enumerate(parts)
        ]  # fmt: skip
        history.append(li_types.ChatMessage(role=("user", "assistant")[t % 2], blocks=blocks))
    inner = SimpleChatEngine.from_defaults(llm=MockLLM())
    calls: list[Any] = []
    original = inner.chat

    def chat(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    object.__setattr__(inner, "chat", chat)
    engine = GuardedChatEngine(
        inner, server.guard(model=LG4, media_root=tmp_path), check_output=False
    )
    since = len(server.bodies)
    # Every turn of the history is judged as the last of its prefix: a marked image blocks
    # wherever it is (the question joins the history's last user turn).
    with pytest.raises(UnsafeContentError) as caught:
        engine.chat("what do you see?", chat_history=history)
    blocked = caught.value
    assert blocked.stage == "input" and not calls
    if blocked.verdict.error is not None:  # more pictures than Meta's limit: never sent
        assert over_the_image_limit(turns) and "max_images" in blocked.verdict.error
        return
    assert "S1" in blocked.verdict.codes and marker_reached_the_guard(server, since)


def test_a_guarded_multimodal_chat_model_never_sees_an_unsafe_picture(
    server: LoopbackServer,
) -> None:
    from langchain_llamashield import GuardedChatModel

    chat = RecordingChat()
    guarded = GuardedChatModel(chat.model, server.guard(model=LG4), on_unsafe="refuse")
    photo = lc_messages.HumanMessage(
        content=[{"type": "text", "text": "what is this?"}, lc_image("v1_base64", "png", True)]
    )
    answer = guarded.invoke([photo])
    assert not chat.seen and "llamashield" in answer.response_metadata
    fine = lc_messages.HumanMessage(
        content=[{"type": "text", "text": "what is this?"}, lc_image("v1_base64", "png", False)]
    )
    assert guarded.invoke([fine]).content == "A lovely picture."
