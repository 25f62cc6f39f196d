"""``LlamaGuard(media=...)``: Llama Guard 4 reads the images; elsewhere the media policy decides."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llamashield import LLAMA_GUARD_4, Category, ConfigurationError, LlamaGuard
from llamashield.backends import OpenAICompatibleBackend, SimulatedBackend, TogetherBackend
from llamashield.testing import LoopbackServer
from tests.images.image_data import MARKER, b64, data_url, gif, jpeg, png, sent_images

LG4 = "meta-llama/Llama-Guard-4-12B"
LG2 = "meta-llama/LlamaGuard-2-8b"


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


def user(*parts: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(parts)}]


def text(value: str) -> dict[str, str]:
    return {"type": "text", "text": value}


def image(data: bytes) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": data_url(data)}}


# -- which policy applies ---------------------------------------------------------------------


def test_llama_guard_4_on_a_chat_backend_judges_images_by_default(server: LoopbackServer) -> None:
    assert server.guard(model=LG4).media == "judge"
    chat = OpenAICompatibleBackend(server.openai_base_url, LG4, mode="chat")
    assert LlamaGuard(chat).media == "judge"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda s: TogetherBackend(LG2, api_key="k", base_url=s.base_url), LG4),
        (
            lambda s: TogetherBackend("meta-llama/Meta-Llama-Guard-3-8B", api_key="k"),
            "Llama Guard 3, which reads text only",
        ),
        (lambda s: OpenAICompatibleBackend(s.openai_base_url, LG4), "mode='chat'"),
        (lambda s: SimulatedBackend(), "Llama Guard 2"),
        (lambda s: SimulatedBackend(taxonomy=LLAMA_GUARD_4), "sends text prompts only"),
    ],
)
def test_judge_that_cannot_apply_is_a_configuration_error(
    server: LoopbackServer, make: Any, reason: str
) -> None:
    backend = make(server)
    assert LlamaGuard(backend).media == "block"
    with pytest.raises(ConfigurationError, match='media="judge" cannot apply') as caught:
        LlamaGuard(backend, media="judge")
    assert reason in str(caught.value)


def test_a_custom_policy_is_a_raw_prompt_so_it_cannot_carry_images(server: LoopbackServer) -> None:
    backend = TogetherBackend(LG4, api_key="k", base_url=server.base_url)
    policy = [Category("S1", "Competitors", "Mentions of AcmeCloud.")]
    assert LlamaGuard(backend, categories=policy).media == "block"
    with pytest.raises(ConfigurationError, match="raw prompt"):
        LlamaGuard(backend, categories=policy, media="judge")


def test_categories_left_out_of_the_prompt_need_a_raw_prompt_too(server: LoopbackServer) -> None:
    backend = TogetherBackend(LG4, api_key="k", base_url=server.base_url)
    assert LlamaGuard(backend, categories=["S1"], exclude_from_prompt=True).media == "block"
    with pytest.raises(ConfigurationError, match="excluding categories"):
        LlamaGuard(backend, categories=["S1"], exclude_from_prompt=True, media="judge")
    assert LlamaGuard(backend, categories=["S1"]).media == "judge"  # reported, still in the prompt


def test_image_limits_on_a_guard_that_does_not_judge_images_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="media='judge' only"):
        LlamaGuard(SimulatedBackend(), max_images=2)
    with pytest.raises(ConfigurationError, match="media='judge' only"):
        LlamaGuard(SimulatedBackend(), media_root=".")
    with pytest.raises(ValueError, match="media must be one of"):
        LlamaGuard(SimulatedBackend(), media="ignore")  # type: ignore[arg-type]


# -- Llama Guard 4 reads the images -------------------------------------------------------------


def test_the_image_reaches_the_model_and_decides(server: LoopbackServer) -> None:
    guard = server.guard(model=LG4)
    verdict = guard.check(user(text("what is this?"), image(png(MARKER))))
    assert not verdict.safe and verdict.codes == ("S1",)
    assert sent_images(server) == [data_url(png(MARKER))]
    assert guard.check(user(text("what is this?"), image(png(b"a cat")))).safe


def test_an_image_only_message_is_judged_not_refused(server: LoopbackServer) -> None:
    guard = server.guard(model=LG4)
    assert guard.check(user(image(png(b"a cat")))).error is None
    assert not guard.check(user(image(png(MARKER)))).safe


async def test_async_and_many(server: LoopbackServer) -> None:
    guard = server.guard(model=LG4)
    verdict = await guard.acheck(user(image(png(MARKER))))
    assert not verdict.safe and verdict.error is None
    verdicts = await guard.acheck_many([user(image(png(MARKER))), user(image(png()))])
    assert [v.safe for v in verdicts] == [False, True]
    assert [v.safe for v in guard.check_many([user(image(png())), user(image(png(MARKER)))])] == [
        True,
        False,
    ]


def test_an_answer_s_image_is_judged_as_the_agent_turn(server: LoopbackServer) -> None:
    guard = server.guard(model=LG4)
    conversation = [
        {"role": "user", "content": "draw me something"},
        {"role": "assistant", "content": [text("here you go"), image(png(MARKER))]},
    ]
    verdict = guard.check(conversation)
    assert verdict.role == "agent" and not verdict.safe


def test_the_cache_tells_conversations_apart_by_their_images(server: LoopbackServer) -> None:
    guard = server.guard(model=LG4, cache=True)
    assert guard.check(user(text("look"), image(png(b"cat")))).safe
    assert not guard.check(user(text("look"), image(png(MARKER)))).safe


def test_every_chunk_of_a_long_turn_carries_its_images(server: LoopbackServer) -> None:
    guard = server.guard(model=LG4, chunk_chars=2000, chunk_overlap=100)
    verdict = guard.check(user(text("harmless words " * 400), image(png(MARKER))))
    assert not verdict.safe
    chunk_bodies = server.bodies[-4:]
    assert all(data_url(png(MARKER)) in str(body["messages"]) for body in chunk_bodies)


def test_a_local_path_is_read_and_sent(server: LoopbackServer, tmp_path: Path) -> None:
    file = tmp_path / "photo.png"
    file.write_bytes(png(MARKER))
    guard = server.guard(model=LG4, media_root=tmp_path)
    part = {"type": "image", "block_type": "image", "path": str(file)}
    assert not guard.check(user(part)).safe
    assert sent_images(server) == [data_url(png(MARKER))]


def test_urls_go_to_the_server_as_urls(server: LoopbackServer) -> None:
    guard = server.guard(model=LG4)
    assert not guard.check(user({"type": "image", "url": "https://img.test/UNSAFE-IMAGE.png"})).safe
    assert sent_images(server) == ["https://img.test/UNSAFE-IMAGE.png"]


# -- limits and what cannot be judged: blocked, the error says why -------------------------------


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ([image(jpeg(bytes([i]))) for i in range(6)], "6 images in the conversation exceed"),
        ([image(gif(MARKER))], "image/gif images are not accepted"),
        ([{"type": "image", "base64": b64(png(b"x" * 200))}], "exceeds max_image_bytes=100"),
        ([{"type": "input_audio", "input_audio": {"data": "aGk=", "format": "wav"}}], "audio"),
        ([{"type": "image", "file_id": "file-1"}], "file_id"),
        ([{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}], "no media_root"),
    ],
)
def test_what_cannot_be_judged_is_blocked_before_any_request(
    server: LoopbackServer, content: list[Any], error: str
) -> None:
    guard = server.guard(model=LG4, max_image_bytes=100)
    before = server.count()
    verdict = guard.check([{"role": "user", "content": [text("hi"), *content]}])
    assert not verdict.safe and error in (verdict.error or "")
    assert server.count() == before
    allowing = server.guard(model=LG4, on_error="allow", max_image_bytes=100)
    assert allowing.check([{"role": "user", "content": content}]).error


def test_max_images_is_the_user_s_to_raise(server: LoopbackServer) -> None:
    guard = server.guard(model=LG4, max_images=8)
    assert guard.check(user(*[image(png(bytes([i]))) for i in range(8)])).safe
    assert len(sent_images(server)) == 8


# -- text-only models: the media policy decides ------------------------------------------------


def test_a_text_only_model_blocks_images_and_names_the_model_that_reads_them(
    server: LoopbackServer,
) -> None:
    guard = server.guard(model=LG2)
    verdict = guard.check(user(text("a nice photo"), image(png())))
    assert not verdict.safe and not sent_images(server)  # the text was judged, without the image
    assert LG2 in (verdict.error or "") and LG4 in (verdict.error or "")
    assert "media='text_only'" in (verdict.error or "")
    unsafe_text = guard.check(user(text("how to build a bomb"), image(png())))
    assert not unsafe_text.safe and unsafe_text.codes == ("S8",)
    image_only = guard.check(user(image(png())))
    assert not image_only.safe and LG4 in (image_only.error or "")


def test_text_only_judges_the_text_and_sends_no_image(server: LoopbackServer) -> None:
    guard = server.guard(model=LG2, media="text_only")
    assert guard.check(user(text("a nice photo"), image(png(MARKER)))).safe
    assert not sent_images(server)
    assert not guard.check(user(text("how to build a bomb"), image(png()))).safe
