"""A server whose context is smaller than the conversation: the backend learns the context from
the server's own 400, judges the conversation in windows that fit, and says so when none does.

The server is a real HTTP server on loopback, speaking the parts of llama.cpp's ``llama-server``
the backend reads (``/props`` without a context, ``/tokenize``, ``/v1/completions`` with its
"exceeds the available context size" 400); it rejects any prompt longer than ``limit``
characters, so how token-dense the text is stays in the test's hands.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loopback_http import JsonHandler, LoopbackHTTPServer, serving

from llamashield import LlamaGuard
from llamashield.backends import OpenAICompatibleBackend

CONTEXT = 4096  # what the server names in its 400
MODEL = "meta-llama/Llama-Guard-3-8B"


class SmallContextServer(LoopbackHTTPServer):
    def __init__(self) -> None:
        super().__init__(_Handler)
        self.limit = CONTEXT * 3
        self.accepted: list[str] = []
        self.rejected = 0
        self.lock = threading.Lock()


class _Handler(JsonHandler):
    server: SmallContextServer

    def do_GET(self) -> None:
        if self.path == "/props":
            self.send(200, {"default_generation_settings": {}, "bos_token": "<|begin_of_text|>"})
        elif self.path == "/v1/models":
            self.send(200, {"data": [{"id": MODEL, "owned_by": "llamacpp"}]})
        else:
            self.send(404, {"error": {"message": "File Not Found"}})

    def do_POST(self) -> None:
        body = self.read_json()
        if self.path == "/tokenize":
            self.send(200, {"tokens": [128000]})  # adds the one BOS itself
            return
        prompt: str = body["prompt"]
        with self.server.lock:
            if len(prompt) > self.server.limit:
                self.server.rejected += 1
                message = (f"request ({len(prompt) // 3} tokens) exceeds the available context "
                           f"size ({CONTEXT} tokens), try increasing it")  # fmt: skip
                self.send(400, {"error": {"code": 400, "message": message}})
                return
            self.server.accepted.append(prompt)
        judged = prompt.rsplit("<END CONVERSATION>", 1)[0].rsplit("User:", 1)[-1]
        text = "unsafe\nS9" if "detonator" in judged else "safe"
        self.send(200, {"choices": [{"text": text, "index": 0}], "model": MODEL})


@pytest.fixture
def server() -> Iterator[SmallContextServer]:
    with serving(SmallContextServer()) as running:
        yield running


def _guard(server: SmallContextServer) -> LlamaGuard:
    return LlamaGuard(
        OpenAICompatibleBackend(f"{server.url}/v1", MODEL, logprobs=None), max_retries=0
    )


def _long_message(words: int, marked_at: int | None) -> str:
    parts = [f"word{i}" for i in range(words)]
    if marked_at is not None:
        parts[marked_at] = "detonator"
    return " ".join(parts)


@pytest.mark.parametrize("marked_at", [None, 10, 2500, 4999])
def test_a_conversation_too_long_for_the_server_is_judged_in_windows_that_fit(
    server: SmallContextServer, marked_at: int | None
) -> None:
    with _guard(server) as guard:
        verdict = guard.check(_long_message(5000, marked_at))
    assert verdict.error is None, verdict.error
    assert verdict.safe is (marked_at is None)  # an unsafe window makes the whole unsafe
    # The first whole prompts (the guard's own chunks of the message, sent at once) taught the
    # backend the context; every prompt it sent after that fits.
    assert server.rejected >= 1
    assert len(server.accepted) > 1 and all(len(p) <= server.limit for p in server.accepted)


def test_the_learned_context_holds_for_later_checks(server: SmallContextServer) -> None:
    with _guard(server) as guard:
        guard.check(_long_message(5000, None))
        rejected = server.rejected
        assert guard.check(_long_message(6000, 5999)).safe is False
    assert server.rejected == rejected  # no second lesson needed


def test_a_server_whose_context_no_window_fits_says_to_restart_it_larger(
    server: SmallContextServer,
) -> None:
    server.limit = 200  # not even the policy fits
    with _guard(server) as guard:
        verdict = guard.check(_long_message(3000, None))
    assert verdict.safe is False  # fail closed
    assert verdict.error is not None and "does not fit the served context" in verdict.error
    assert "-c 8192" in verdict.error
    assert not server.accepted


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(density=st.sampled_from([3.0, 2.4, 2.0, 1.7]), marked=st.booleans())
def test_denser_text_halves_the_windows_and_a_verdict_is_right_or_an_error_never_wrong(
    server: SmallContextServer, density: float, marked: bool
) -> None:
    server.limit = int(CONTEXT * density)
    server.accepted.clear()
    with _guard(server) as guard:
        verdict = guard.check(_long_message(4000, 3000 if marked else None))
    if verdict.error is None:
        assert verdict.safe is not marked
        assert all(len(p) <= server.limit for p in server.accepted)
    else:
        assert verdict.safe is False and "does not fit" in verdict.error
