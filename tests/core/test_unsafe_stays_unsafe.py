"""Issue 20, item 6: the model's ``unsafe`` is never softened by a malformed score, and a guard
that errors, times out or reads nothing never reports safe unless ``on_error="allow"``."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamashield import GuardUnavailableError, LlamaGuard, Verdict, VerdictParseError
from llamashield.backends import OpenAICompatibleBackend, SimulatedBackend
from llamashield.backends._answers import answer_from_completion
from llamashield.backends._base import BackendAnswer, BackendError, GuardRequest
from tests._support.raw_http import RawServer, by_endpoint

ON_ERROR = ["block", "allow", "raise"]

# Answers whose first line is `unsafe`, in the spellings servers send; the last three cannot be
# read whole (the threshold never applies to those: their text decides).
READABLE = [
    "unsafe",
    "unsafe\nS1",
    "unsafe\nS1,S9",
    " UNSAFE \n S2 , S3 ",
    "\n\nunsafe\nS1<|eot_id|>",
]
UNREADABLE = ["unsafe\nS999", "unsafe\nS1,S", "unsafe\nS1\nthen some prose"]
unsafe_answers = st.sampled_from(READABLE + UNREADABLE)
# Every kind of score: none, probabilities, and every way a score can be no probability.
scores = st.one_of(
    st.none(),
    st.floats(0.0, 1.0),
    st.sampled_from([math.nan, math.inf, -math.inf, 1.5, -0.1, 1e300, -1e-9, 1.0000001]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["0.5", True, b"1"]),
)


class Scripted(SimulatedBackend):
    """Answers every request with one fixed reply (a ``BackendAnswer`` or anything else), or
    raises it when it is an exception."""

    def __init__(self, reply: Any, *, hang: float = 0.0) -> None:
        super().__init__()
        self.reply = reply
        self.hang = hang

    def _reply(self) -> BackendAnswer:
        if isinstance(self.reply, BaseException):
            raise self.reply
        return self.reply  # type: ignore[no-any-return]

    def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        return self._reply()

    async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        if self.hang:
            await asyncio.sleep(self.hang)
        return self._reply()


def _probability(score: object) -> bool:
    return (
        isinstance(score, int | float)
        and not isinstance(score, bool)
        and math.isfinite(score)
        and 0.0 <= score <= 1.0
    )


def _both(guard: LlamaGuard, text: str = "hello") -> list[Verdict]:
    return [guard.check(text), asyncio.run(guard.acheck(text))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=unsafe_answers,
    score=scores,
    on_error=st.sampled_from(ON_ERROR),
    threshold=st.none() | st.floats(0.0, 1.0),
)
def test_an_unsafe_answer_is_unsafe_whatever_its_score(
    text: str, score: object, on_error: str, threshold: float | None
) -> None:
    guard = LlamaGuard(
        Scripted(BackendAnswer(text, score)),  # type: ignore[arg-type]
        on_error=on_error,  # type: ignore[arg-type]
        threshold=threshold,
        circuit_breaker=None,
    )
    for verdict in _both(guard):
        # The one way an `unsafe` text is let through: a real probability under the threshold
        # (what threshold= means). Every other score leaves the model's word standing.
        lowered = (
            threshold is not None
            and _probability(score)
            and score < threshold  # type: ignore[operator]
            and text in READABLE
        )
        assert verdict.safe is lowered, (text, score, on_error, threshold, verdict)
        if not _probability(score):
            assert verdict.score is None
        if score is not None and not _probability(score):
            assert verdict.error is not None and "score" in verdict.error


@pytest.mark.parametrize("score", [math.nan, math.inf, 1.5, -0.1])
def test_the_issue_examples(score: float) -> None:
    guard = LlamaGuard(Scripted(BackendAnswer("unsafe\nS1", score)), on_error="allow")
    for verdict in _both(guard):
        assert not verdict.safe
        assert verdict.codes == ("S1",)
        assert verdict.error is not None and repr(score) in verdict.error


def test_a_safe_answer_with_a_broken_score_is_left_to_the_error_policy() -> None:
    # Under a threshold, the score could have said unsafe: a safe text with no readable score
    # is an error the policy decides, as before.
    answer = BackendAnswer("safe", math.nan)
    assert not LlamaGuard(Scripted(answer)).check("hi").safe
    allowed = LlamaGuard(Scripted(answer), on_error="allow").check("hi")
    assert allowed.safe and allowed.error is not None
    with pytest.raises(VerdictParseError):
        LlamaGuard(Scripted(answer), on_error="raise").check("hi")


# -- over HTTP: logprobs that are no log-probabilities beside an `unsafe` text ---------------


def _completion(chat: bool, text: str, logprob: Any) -> bytes:
    logprobs = {"tokens": ["unsafe"], "token_logprobs": [logprob], "top_logprobs": [{"x": 0.0}]}
    choice: dict[str, Any] = {"index": 0, "finish_reason": "stop", "logprobs": logprobs}
    choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
    body = {"id": "x", "object": "c", "created": 0, "model": "m", "choices": [choice]}
    return json.dumps(body).encode()


@pytest.fixture(scope="module")
def raw_server() -> Iterator[RawServer]:
    with RawServer(lambda request: (200, b"")) as server:
        yield server


@pytest.mark.parametrize("logprob", [math.nan, 3.0, "abc", None], ids=repr)
@pytest.mark.parametrize("mode", ["completions", "chat"])
async def test_unreadable_logprobs_over_http_keep_the_unsafe_text(
    raw_server: RawServer, logprob: Any, mode: Any
) -> None:
    raw_server.reply = by_endpoint(lambda chat: _completion(chat, "unsafe\nS1", logprob))
    backend = OpenAICompatibleBackend(raw_server.url, "meta-llama/LlamaGuard-2-8b", mode=mode)
    for on_error in ON_ERROR:
        guard = LlamaGuard(backend, on_error=on_error, circuit_breaker=None, max_retries=0)  # type: ignore[arg-type]
        for verdict in (guard.check("hi"), await guard.acheck("hi")):
            assert not verdict.safe and verdict.codes == ("S1",)
            assert verdict.error is not None and "logprob" in verdict.error
    await backend.aclose()


def test_the_answer_reader_keeps_the_text_and_names_the_problem() -> None:
    body = json.loads(_completion(False, "unsafe\nS1", math.nan))
    answer = answer_from_completion(body, "m", chat=False)
    assert answer.text == "unsafe\nS1" and answer.score is None
    assert answer.problem is not None and "nan" in answer.problem


# -- failures never read as safe ------------------------------------------------------------

# What a failing guard backend can do: raise, answer what is no answer, or say nothing usable.
failures: list[tuple[str, Callable[[], Any]]] = [
    ("outage", lambda: BackendError("down", retryable=True, kind="connection")),
    ("http_503", lambda: BackendError("503", retryable=True, status_code=503, kind="http")),
    ("http_401", lambda: BackendError("401", status_code=401, kind="http")),
    ("timeout", lambda: BackendError("slow", retryable=True, kind="timeout")),
    ("malformed", lambda: BackendError("bad json", kind="malformed")),
    ("closed", lambda: BackendError("closed", kind="closed")),
    ("empty", lambda: BackendAnswer("")),
    ("blank", lambda: BackendAnswer(" \n\t ")),
    ("eos_only", lambda: BackendAnswer("<|eot_id|>")),
    ("prose", lambda: BackendAnswer("I cannot help with that.")),
    ("safe_then_text", lambda: BackendAnswer("safe\nbut also")),
    ("half_word", lambda: BackendAnswer("saf")),
    ("safe_nan_score", lambda: BackendAnswer("safe", math.nan)),
    ("safe_big_score", lambda: BackendAnswer("safe", 7.0)),
    ("text_none", lambda: BackendAnswer(None)),  # type: ignore[arg-type]
    ("model_int", lambda: BackendAnswer("safe", None, 3)),  # type: ignore[arg-type]
    ("none", lambda: None),
    ("a_str", lambda: "safe"),
    ("a_dict", lambda: {"text": "safe"}),
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    failure=st.sampled_from(failures),
    on_error=st.sampled_from(ON_ERROR),
    long=st.booleans(),
    threshold=st.none() | st.floats(0.0, 1.0),
)
def test_a_failing_guard_reports_safe_only_under_allow(
    failure: tuple[str, Callable[[], Any]], on_error: str, long: bool, threshold: float | None
) -> None:
    name, make = failure
    guard = LlamaGuard(
        Scripted(make()),
        on_error=on_error,  # type: ignore[arg-type]
        threshold=threshold,
        circuit_breaker=None,
        max_retries=0,
        chunk_chars=200,
        chunk_overlap=20,
    )
    text = "hello " * (100 if long else 1)  # long: judged in chunks, every one failing
    runs: tuple[Callable[[], Verdict], ...] = (
        lambda: guard.check(text),
        lambda: asyncio.run(guard.acheck(text)),
    )
    for run in runs:
        try:
            verdict = run()
        except (GuardUnavailableError, VerdictParseError):
            assert on_error == "raise", name
            continue
        assert verdict.error is not None, (name, verdict)
        assert verdict.safe is (on_error == "allow"), (name, on_error, verdict)


@pytest.mark.parametrize("on_error", ["block", "raise"])
async def test_a_guard_that_times_out_is_never_safe(on_error: Any) -> None:
    guard = LlamaGuard(Scripted(BackendAnswer("safe"), hang=5.0), timeout=0.05, on_error=on_error)
    if on_error == "raise":
        with pytest.raises(GuardUnavailableError):
            await guard.acheck("hi")
        return
    verdict = await guard.acheck("hi")
    assert not verdict.safe and verdict.error is not None and "timed out" in verdict.error
    allowed = LlamaGuard(Scripted(BackendAnswer("safe"), hang=5.0), timeout=0.05, on_error="allow")
    late = await allowed.acheck("hi")
    assert late.safe and late.error is not None
