"""Issue 20 item 6: "A backend answer `unsafe\\nS1` with score NaN, inf, 1.5 or -0.1 is reported
safe under on_error="allow". The text said unsafe: it stays unsafe." Still so:
_checks.checked turns any answer with a malformed score into a BackendError (the text is
dropped) and Policy.fail applies on_error. Shown through a real HTTP server answering
"unsafe\\nS1" with a logprob the client reads as an impossible probability, and through a
backend object (the public Backend protocol) giving the score directly."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from llamashield import LlamaGuard
from llamashield.backends import OpenAICompatibleBackend, SimulatedBackend
from llamashield.backends._base import BackendAnswer, GuardRequest
from tests._support.raw_http import RawServer, Request

LOGPROB = {"value": 0.0}


def _unsafe(request: Request) -> tuple[int, bytes]:
    lp = LOGPROB["value"]
    logprobs = {"tokens": ["unsafe"], "token_logprobs": [lp], "top_logprobs": [{"unsafe": lp}]}
    choice = {"index": 0, "finish_reason": "stop", "text": "unsafe\nS1", "logprobs": logprobs}
    body = {"id": "x", "object": "text_completion", "created": 0, "model": "m"}
    return 200, json.dumps({**body, "choices": [choice]}).encode()


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with RawServer(_unsafe) as server:
        yield server.url


def test_http_unsafe_with_an_impossible_logprob_stays_unsafe(url: str) -> None:
    LOGPROB["value"] = 3.0  # exp(3) > 1: not a probability
    guard = LlamaGuard(
        OpenAICompatibleBackend(url, "meta-llama/LlamaGuard-2-8b"),
        on_error="allow", circuit_breaker=None, max_retries=0,
    )  # fmt: skip
    verdict = guard.check("hello")
    assert not verdict.safe, f"the model said unsafe; reported safe ({verdict.error})"


class _Scored(SimulatedBackend):
    def __init__(self, score: float) -> None:
        super().__init__()
        self.score = score

    def _answer(self, request: GuardRequest) -> BackendAnswer:
        return BackendAnswer("unsafe\nS1", self.score, self.model)


@pytest.mark.parametrize("score", [float("nan"), float("inf"), 1.5, -0.1])
def test_unsafe_with_a_malformed_score_stays_unsafe(score: float) -> None:
    verdict = LlamaGuard(_Scored(score), on_error="allow").check("hello")
    assert not verdict.safe and verdict.error
