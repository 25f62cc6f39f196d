"""Replies from Ollama that carry no verdict: each fails closed with an error that says what
came back, and settings Ollama cannot take are refused at construction.

The server is a real HTTP server on loopback that answers every request with one canned reply.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from llamashield import LlamaGuard
from llamashield.backends import OllamaBackend
from tests._support.raw_http import RawServer


@pytest.fixture
def server() -> Iterator[RawServer]:
    with RawServer(lambda request: (200, b"{}")) as running:
        yield running


@pytest.mark.parametrize(
    ("mode", "status", "body", "said"),
    [
        ("generate", 200, b"<html>busy</html>", "Ollama answered invalid JSON"),
        ("generate", 200, b"[1, 2]", "not an object"),
        ("generate", 200, b'{"model": "llama-guard3:8b", "done": true}', "without text"),
        ("chat", 200, b'{"message": "safe"}', "without text"),
        ("chat", 500, b"out of memory", "server error (500): out of memory"),
        ("generate", 400, b'{"error": {"code": "bad"}}', '{"code": "bad"}'),
    ],
)
def test_a_reply_without_a_verdict_fails_closed_saying_what_came_back(
    server: RawServer, mode: str, status: int, body: bytes, said: str
) -> None:
    server.reply = lambda request: (status, body)
    backend = OllamaBackend(server.url, model="llama-guard3:8b", mode=mode)  # type: ignore[arg-type]
    with LlamaGuard(backend, max_retries=0) as guard:
        verdict = guard.check("How do I bake bread?")
    assert verdict.safe is False
    assert verdict.error is not None and said in verdict.error


def test_a_verdict_reply_is_read(server: RawServer) -> None:
    answer = b'{"model": "llama-guard3:8b", "response": "unsafe\\nS1", "done": true}'
    server.reply = lambda request: (200, answer)
    with LlamaGuard(OllamaBackend(server.url, model="llama-guard3:8b")) as guard:
        verdict = guard.check("How do I bake bread?")
    assert verdict.error is None and verdict.codes == ("S1",)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"base_url": "localhost:11434"}, "base_url must be an http"),
        ({"logprobs": 21}, "logprobs must be 0-20"),
        ({"logprobs": -1}, "logprobs must be 0-20"),
        ({"mode": "completions"}, "mode must be 'generate' or 'chat'"),
    ],
)
def test_settings_ollama_cannot_take_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OllamaBackend(**{"model": "llama-guard3:8b", **options})
