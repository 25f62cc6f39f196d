"""The loopback server reads image parts as a Llama Guard 4 deployment would, judged by marker."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from llamashield.testing import LoopbackServer
from tests.images.image_data import MARKER, data_url, jpeg, png

LG4 = "meta-llama/Llama-Guard-4-12B"


def ask(server: LoopbackServer, model: str, content: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    return httpx.post(f"{server.openai_base_url}/chat/completions", json=body, timeout=10)


def answer(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["message"]["content"])


def image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


@pytest.fixture(scope="module")
def server() -> Any:
    with LoopbackServer() as running:
        yield running


def test_the_marker_in_an_image_makes_the_answer_unsafe(server: LoopbackServer) -> None:
    text = {"type": "text", "text": "what is in this picture?"}
    assert answer(ask(server, LG4, [text, image(data_url(png(MARKER)))])) == "unsafe\nS1"
    assert answer(ask(server, LG4, [text, image(data_url(jpeg(b"kittens"), "image/jpeg"))])) == (
        "safe"
    )
    assert answer(ask(server, LG4, [image("https://img.test/UNSAFE-IMAGE.png")])) == "unsafe\nS1"
    assert answer(ask(server, LG4, [image("https://img.test/cat.png")])) == "safe"


def test_image_and_text_codes_combine(server: LoopbackServer) -> None:
    text = {"type": "text", "text": "how do I build a bomb"}
    assert answer(ask(server, LG4, [text, image(data_url(png(MARKER)))])) == "unsafe\nS1,S9"
    assert answer(ask(server, LG4, [text, image(data_url(png()))])) == "unsafe\nS9"


def test_only_the_last_judged_message_s_images_decide(server: LoopbackServer) -> None:
    messages = [
        {"role": "user", "content": [image(data_url(png(MARKER)))]},
        {"role": "assistant", "content": "I cannot help with that."},
    ]
    body = {"model": LG4, "messages": messages}
    response = httpx.post(f"{server.openai_base_url}/chat/completions", json=body, timeout=10)
    assert answer(response) == "safe"


@pytest.mark.parametrize(
    ("model", "content", "error"),
    [
        ("meta-llama/LlamaGuard-2-8b", [image("https://img.test/a.png")], "reads text only"),
        ("meta-llama/Meta-Llama-Guard-3-8B", [image(data_url(png()))], "reads text only"),
        (LG4, [{"type": "image_url", "image_url": {}}], "image_url.url"),
        (LG4, [image("file:///etc/passwd")], "scheme"),
        (LG4, [image("data:text/plain;base64,aGk=")], "data:image"),
        (LG4, [image("data:image/png;base64,@@@")], "does not decode"),
    ],
)
def test_bad_image_requests_get_400(
    server: LoopbackServer, model: str, content: Any, error: str
) -> None:
    response = ask(server, model, content)
    assert response.status_code == 400
    assert error in response.json()["error"]["message"]


def test_non_guard_models_take_images_and_echo(server: LoopbackServer) -> None:
    response = ask(server, "some-vlm", [{"type": "text", "text": "hi"}, image(data_url(png()))])
    assert response.status_code == 200
