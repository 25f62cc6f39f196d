"""A server whose context is smaller than the conversation: the backend learns the context from
the server's own 400, judges the conversation in windows that fit, and says so when none does.

The server is a real HTTP server on loopback that tells the backend nothing about itself and
answers ``/v1/completions`` with llama.cpp's ``llama-server`` "exceeds the available context
size" 400 for any prompt longer than ``limit`` characters, so how token-dense the text is stays
in the test's hands.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamashield import LlamaGuard
from llamashield.backends import OpenAICompatibleBackend
from tests._support.raw_http import RawServer, Request

CONTEXT = 4096  # what the server names in its 400
MODEL = "meta-llama/Llama-Guard-3-8B"


class SmallContext:
    """Answers ``/v1/completions`` like a server whose context holds ``limit`` characters of
    prompt: a longer prompt gets llama-server's 400 naming the context, any other a verdict."""

    def __init__(self) -> None:
        self.limit = CONTEXT * 3
        self.accepted: list[str] = []
        self.rejected = 0
        self.url = ""
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> tuple[int, bytes]:
        prompt: str = json.loads(request.body)["prompt"]
        with self._lock:
            if len(prompt) > self.limit:
                self.rejected += 1
                message = (f"request ({len(prompt) // 3} tokens) exceeds the available context "
                           f"size ({CONTEXT} tokens), try increasing it")  # fmt: skip
                return 400, json.dumps({"error": {"code": 400, "message": message}}).encode()
            self.accepted.append(prompt)
        judged = prompt.rsplit("<END CONVERSATION>", 1)[0].rsplit("User:", 1)[-1]
        text = "unsafe\nS9" if "detonator" in judged else "safe"
        return 200, json.dumps({"choices": [{"text": text, "index": 0}], "model": MODEL}).encode()


@pytest.fixture
def server() -> Iterator[SmallContext]:
    context = SmallContext()
    with RawServer(context) as raw:
        context.url = f"{raw.url}/v1"
        yield context


def _guard(server: SmallContext) -> LlamaGuard:
    return LlamaGuard(OpenAICompatibleBackend(server.url, MODEL, logprobs=None), max_retries=0)


def _long_message(words: int, marked_at: int | None) -> str:
    parts = [f"word{i}" for i in range(words)]
    if marked_at is not None:
        parts[marked_at] = "detonator"
    return " ".join(parts)


@pytest.mark.parametrize("marked_at", [None, 10, 2500, 4999])
def test_a_conversation_too_long_for_the_server_is_judged_in_windows_that_fit(
    server: SmallContext, marked_at: int | None
) -> None:
    with _guard(server) as guard:
        verdict = guard.check(_long_message(5000, marked_at))
    assert verdict.error is None, verdict.error
    assert verdict.safe is (marked_at is None)  # an unsafe window makes the whole unsafe
    # The first whole prompts (the guard's own chunks of the message, sent at once) taught the
    # backend the context; every prompt it sent after that fits.
    assert server.rejected >= 1
    assert len(server.accepted) > 1 and all(len(p) <= server.limit for p in server.accepted)


def test_the_learned_context_holds_for_later_checks(server: SmallContext) -> None:
    with _guard(server) as guard:
        guard.check(_long_message(5000, None))
        rejected = server.rejected
        assert guard.check(_long_message(6000, 5999)).safe is False
    assert server.rejected == rejected  # no second lesson needed


def test_a_server_whose_context_no_window_fits_says_to_restart_it_larger(
    server: SmallContext,
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
    server: SmallContext, density: float, marked: bool
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
