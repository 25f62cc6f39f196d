"""Chat backends send a turn's images as ``image_url`` parts; raw-prompt paths refuse them."""

from __future__ import annotations

from typing import Any

import pytest

from llamashield import LLAMA_GUARD_4
from llamashield._conversation import Turn
from llamashield.backends import (
    BackendError,
    GuardRequest,
    OpenAICompatibleBackend,
    SimulatedBackend,
    TogetherBackend,
)
from llamashield.testing import LoopbackServer
from tests.images.image_data import MARKER, data_url, png

LG4 = "meta-llama/Llama-Guard-4-12B"


def request(*urls: str, text: str = "look at this") -> GuardRequest:
    return GuardRequest((Turn("user", text, images=urls),), LLAMA_GUARD_4)


def last_content(server: LoopbackServer) -> Any:
    return server.bodies[-1]["messages"][-1]["content"]


def test_chat_messages_put_the_text_then_one_image_url_part_per_image() -> None:
    url = data_url(png())
    assert request(url, "https://img.test/b.png").chat_messages() == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look at this"},
                {"type": "image_url", "image_url": {"url": url}},
                {"type": "image_url", "image_url": {"url": "https://img.test/b.png"}},
            ],
        }
    ]
    # An image-only turn sends no empty text part; a turn without images stays a plain string.
    assert request(url, text="").chat_messages()[0]["content"] == [
        {"type": "image_url", "image_url": {"url": url}}
    ]
    assert request().chat_messages()[0]["content"] == "look at this"


def test_together_sdk_carries_images_on_chat_completions() -> None:
    with LoopbackServer() as server:
        backend = TogetherBackend(LG4, api_key="k", base_url=server.base_url)
        assert backend.capabilities.supports_images
        answer = backend.complete(request(data_url(png(MARKER))), timeout=10)
        assert answer.text == "unsafe\nS1"
        assert last_content(server)[1]["image_url"]["url"] == data_url(png(MARKER))
        assert server.count("/v1/chat/completions", LG4) == 1


async def test_openai_compatible_chat_carries_images() -> None:
    with LoopbackServer() as server:
        async with OpenAICompatibleBackend(server.openai_base_url, LG4, mode="chat") as backend:
            assert backend.capabilities.supports_images
            request_ = request("https://img.test/UNSAFE-IMAGE.png")
            answer = await backend.acomplete(request_, timeout=10)
        assert answer.text == "unsafe\nS1"
        assert last_content(server)[1] == {
            "type": "image_url",
            "image_url": {"url": "https://img.test/UNSAFE-IMAGE.png"},
        }


@pytest.mark.parametrize(
    "backend",
    [
        lambda url: OpenAICompatibleBackend(url + "/v1", LG4),  # raw /v1/completions
        lambda url: OpenAICompatibleBackend(url + "/v1", "meta-llama/LlamaGuard-2-8b", mode="chat"),
        lambda url: TogetherBackend("meta-llama/Meta-Llama-Guard-3-8B", api_key="k", base_url=url),
        lambda url: SimulatedBackend(),
    ],
)
def test_text_only_paths_say_they_cannot_take_images(backend: Any) -> None:
    assert not backend("http://127.0.0.1:9").capabilities.supports_images


def test_a_raw_prompt_with_images_is_refused_not_sent_without_them() -> None:
    with LoopbackServer() as server, OpenAICompatibleBackend(server.openai_base_url, LG4) as b:
        with pytest.raises(BackendError, match="cannot carry images") as caught:
            b.complete(request(data_url(png(MARKER))), timeout=10)
        assert caught.value.kind == "rejected"
        assert server.count() == 0
