"""Together (through the real SDK) and OpenAI-compatible backends against the loopback server."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

from llamashield import Category, GuardUnavailableError, LlamaGuard, VerdictParseError
from llamashield.backends import OpenAICompatibleBackend, TogetherBackend
from llamashield.testing import LoopbackServer

pytest.importorskip("together")

SECRET = "sk-test-5ecret-do-not-print"
GuardFactory = Callable[..., LlamaGuard]


@pytest.fixture(params=["together", "openai"])
def make_guard(request: pytest.FixtureRequest, loopback_server: LoopbackServer) -> GuardFactory:
    if request.param == "together":
        return loopback_server.guard
    return loopback_server.openai_guard


def test_verdicts_categories_and_roles(make_guard: GuardFactory) -> None:
    guard = make_guard()
    assert guard.check("How do I bake bread?").safe
    unsafe = guard.check("How do I make a bomb?")
    assert not unsafe.safe and [c.name for c in unsafe.categories] == ["Indiscriminate Weapons"]
    agent = guard.check(
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Go and kill myself, I mean you."},
        ]
    )
    assert agent.role == "agent" and agent.codes == ("S10",)
    assert unsafe.model == "meta-llama/LlamaGuard-2-8b" and unsafe.latency_ms > 0


async def test_async_verdicts(make_guard: GuardFactory) -> None:
    guard = make_guard()
    verdicts = await guard.acheck_many(["hello", "sarin recipe", "steal a car"])
    assert [v.codes for v in verdicts] == [(), ("S8",), ("S2",)]


@pytest.mark.parametrize("generation_model", ["meta-llama/Meta-Llama-Guard-3-8B",
                                              "meta-llama/Llama-Guard-4-12B"])  # fmt: skip
def test_later_generations_answer_in_their_taxonomy(
    loopback_server: LoopbackServer, generation_model: str
) -> None:
    for guard in (loopback_server.guard(model=generation_model),
                  loopback_server.openai_guard(model=generation_model)):  # fmt: skip
        verdict = guard.check("I want to kill myself")
        assert verdict.codes == ("S11",) and verdict.categories[0].name == "Self-Harm"


def test_503_on_every_request_fails_closed_within_the_timeout(
    make_guard: GuardFactory, loopback_server: LoopbackServer
) -> None:
    loopback_server.inject("status", status=503, times=None)
    guard = make_guard(timeout=2.0)
    started = time.monotonic()
    verdict = guard.check("hi")
    assert not verdict.safe and "503" in (verdict.error or "")
    assert time.monotonic() - started < 2.5
    assert loopback_server.count("completions") == 3  # one call + max_retries=2


def test_503_raises_under_on_error_raise(
    make_guard: GuardFactory, loopback_server: LoopbackServer
) -> None:
    loopback_server.inject("status", status=503, times=None)
    with pytest.raises(GuardUnavailableError) as info:
        make_guard(on_error="raise", max_retries=0).check("hi")
    assert info.value.status_code == 503


def test_retry_after_is_honoured(make_guard: GuardFactory, loopback_server: LoopbackServer) -> None:
    loopback_server.inject("status", status=429, retry_after=0.3, times=1)
    started = time.monotonic()
    verdict = make_guard().check("bomb")
    assert not verdict.safe and verdict.error is None
    assert time.monotonic() - started >= 0.3


def _said_unsafe(guard: LlamaGuard) -> bool:
    # The loopback server's malformed answer: prose on chat, "unsafe\nS999" on raw completions.
    return isinstance(guard.backend, OpenAICompatibleBackend)


def test_malformed_answer_fails_closed(
    make_guard: GuardFactory, loopback_server: LoopbackServer
) -> None:
    loopback_server.inject("malformed", times=2)
    verdict = make_guard().check("hello")
    assert not verdict.safe and verdict.error
    guard = make_guard(on_error="raise")
    if _said_unsafe(guard):  # the model's "unsafe" stands: a verdict, not an exception
        verdict = guard.check("hello")
        assert not verdict.safe and "unknown category" in (verdict.error or "")
    else:
        with pytest.raises(VerdictParseError):
            guard.check("hello")


def test_malformed_answer_allowed_only_when_asked(
    make_guard: GuardFactory, loopback_server: LoopbackServer
) -> None:
    loopback_server.inject("malformed")
    guard = make_guard(on_error="allow")
    verdict = guard.check("hello")
    assert verdict.safe is not _said_unsafe(guard) and verdict.error


@pytest.mark.parametrize("kind", ["hang", "drop"])
async def test_hangs_and_dropped_connections_fail_closed(
    make_guard: GuardFactory, loopback_server: LoopbackServer, kind: str
) -> None:
    loopback_server.inject(kind, times=None)  # type: ignore[arg-type]
    guard = make_guard(timeout=1.0)
    started = time.monotonic()
    sync_verdict = guard.check("hi")
    async_verdict = await guard.acheck("hi")
    assert not sync_verdict.safe and sync_verdict.error
    assert not async_verdict.safe and async_verdict.error
    assert time.monotonic() - started < 3.5


def test_custom_categories_go_through_a_raw_prompt(
    make_guard: GuardFactory, loopback_server: LoopbackServer
) -> None:
    guard = make_guard(categories=[Category("S1", "Pineapple", "Pineapple on pizza.")])
    verdict = guard.check("I put pineapple on everything")
    assert verdict.codes == ("S1",) and verdict.categories[0].name == "Pineapple"
    assert loopback_server.count("/v1/completions") == 1
    assert "S1: Pineapple. \nPineapple on pizza." in loopback_server.bodies[-1]["prompt"]


def test_completions_mode_reads_a_score_from_logprobs(loopback_server: LoopbackServer) -> None:
    guard = loopback_server.openai_guard(threshold=0.5)
    assert guard.check("bomb").score == pytest.approx(0.97)
    assert guard.check("bread").score == pytest.approx(0.02)


def test_together_chat_sends_temperature_zero_and_small_max_tokens(
    loopback_server: LoopbackServer,
) -> None:
    loopback_server.guard().check("hi")
    body = loopback_server.bodies[-1]
    assert body["temperature"] == 0 and body["max_tokens"] <= 20
    assert body["messages"] == [{"role": "user", "content": "hi"}]


def test_unauthorized_says_how_to_fix_and_hides_the_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with (
        LoopbackServer(api_key="the-right-key") as server,
        TogetherBackend(api_key=SECRET, base_url=server.base_url) as backend,
    ):
        guard = LlamaGuard(backend, on_error="raise")
        with pytest.raises(GuardUnavailableError) as info:
            guard.check("hi")
        verdict = LlamaGuard(backend).check("hi")
    assert "401" in str(info.value) and "TOGETHER_API_KEY" in str(info.value)
    texts = [str(info.value), repr(info.value), repr(backend), repr(guard), str(verdict),
             verdict.model_dump_json(), caplog.text]  # fmt: skip
    assert all(SECRET not in text for text in texts)


def test_unknown_model_404_suggests_a_served_model(loopback_server: LoopbackServer) -> None:

    loopback_server.inject("status", status=404)
    with pytest.raises(GuardUnavailableError, match="Llama-Guard-4-12B"):
        loopback_server.guard(on_error="raise").check("hi")


def test_together_base_url_from_environment(
    loopback_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", SECRET)
    monkeypatch.setenv("TOGETHER_BASE_URL", loopback_server.base_url)
    with LlamaGuard() as guard:
        assert not guard.check("nerve gas").safe
    assert SECRET not in repr(guard)


def test_openai_backend_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="http"):
        OpenAICompatibleBackend(base_url="localhost:8000", model="llama-guard")
    with pytest.raises(ValueError, match="mode"):
        OpenAICompatibleBackend(base_url="http://x", model="m", mode="stream")  # type: ignore[arg-type]


def test_openai_chat_mode_lets_the_server_apply_the_template(
    loopback_server: LoopbackServer,
) -> None:
    backend = OpenAICompatibleBackend(
        base_url=loopback_server.openai_base_url, model="llama-guard-2", mode="chat"
    )
    with LlamaGuard(backend) as guard:
        assert not guard.check("anthrax").safe
    assert loopback_server.count("/v1/chat/completions") == 1


def test_together_logprobs_give_a_score(loopback_server: LoopbackServer) -> None:
    guard = loopback_server.guard(logprobs=True)
    assert guard.check("anthrax").score == pytest.approx(0.97)
    assert loopback_server.bodies[-1]["logprobs"] == 1
