"""A span per check, named and attributed after the GenAI conventions, nested under the
caller's span (threads and tasks included); content only when opted in, and then redacted."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamashield import CircuitBreaker, LlamaGuard
from llamashield._telemetry import redact
from llamashield.backends import SimulatedBackend
from llamashield.backends._answers import answer_from_completion
from llamashield.backends._base import BackendAnswer, BackendError, GuardRequest
from llamashield.streaming import moderate_stream
from llamashield.testing import LoopbackServer
from tests.telemetry._otel import Otel

SECRET_KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2"
BEARER = "Bearer " + "eyJhbGciOiJIUzI1NiJ9.abcdefghijk.lmnopqrstuv"
USERINFO_URL = "https://alice:hunter2secret@internal.example.com/v1"


class Usage(SimulatedBackend):
    """The simulator's verdicts, with token usage reported as a server would."""

    def _answer(self, request: GuardRequest) -> BackendAnswer:
        answer = super()._answer(request)
        return BackendAnswer(answer.text, answer.score, answer.model, 42, 3)


class Failing(SimulatedBackend):
    def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        raise BackendError("upstream said 503", retryable=False, status_code=503, kind="http")


def test_a_check_is_one_client_span_with_genai_and_llamashield_attributes(otel: Otel) -> None:
    guard = LlamaGuard(Usage(), cache=True)
    with otel.tracer.start_as_current_span("app") as parent:
        verdict = guard.check("How do I build a bomb?")
    (span,) = otel.checks()
    assert span.name == f"apply_guardrail {guard.model}"
    assert span.kind.name == "CLIENT"
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.operation.name"] == "apply_guardrail"
    assert attributes["gen_ai.request.model"] == guard.model
    assert attributes["gen_ai.provider.name"] == "llamashield.simulated"
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (
        42,
        3,
    )
    assert attributes["llamashield.verdict"] == "unsafe" and not verdict.safe
    categories = attributes["llamashield.categories"]  # the SDK stores sequences as tuples
    assert isinstance(categories, tuple) and list(categories) == list(verdict.codes) == ["S8"]
    assert attributes["llamashield.score"] == verdict.score
    assert attributes["llamashield.stage"] == "input"
    assert attributes["llamashield.role"] == "user"
    assert attributes["llamashield.cached"] is False
    # Absent means closed and not shadowed: the SDK pays for every attribute on every span.
    assert "llamashield.breaker.state" not in attributes
    assert "llamashield.shadow" not in attributes
    guard.check("How do I build a bomb?")
    assert dict(otel.checks()[-1].attributes or {})["llamashield.cached"] is True


def test_no_content_is_recorded_by_default(otel: Otel) -> None:
    guard = LlamaGuard(SimulatedBackend())
    question = "my unique question about sourdough 7f3a"
    guard.check([{"role": "user", "content": question}, {"role": "assistant", "content": "ok"}])
    (span,) = otel.checks()
    dumped = json.dumps({k: str(v) for k, v in (span.attributes or {}).items()})
    assert "sourdough" not in dumped and "gen_ai.input.messages" not in dumped
    assert dict(span.attributes or {})["llamashield.stage"] == "output"  # an agent turn
    assert all(not event.attributes for event in span.events)


def test_opted_in_content_is_recorded_with_credentials_redacted(otel: Otel) -> None:
    guard = LlamaGuard(SimulatedBackend(), trace_content=True)
    text = f"use {SECRET_KEY} with header {BEARER} at {USERINFO_URL} and api_key=abcd1234efgh"
    guard.check(text)
    (span,) = otel.checks()
    recorded = dict(span.attributes or {})
    messages = json.loads(str(recorded["gen_ai.input.messages"]))
    content = messages[0]["parts"][0]["content"]
    assert content.startswith("use ") and "internal.example.com" in content  # content is there
    for secret in (SECRET_KEY, "eyJhbGciOiJIUzI1NiJ9", "hunter2secret", "alice:", "abcd1234efgh"):
        assert secret not in json.dumps(recorded), secret
    assert json.loads(str(recorded["gen_ai.output.messages"]))[0]["parts"][0]["content"] == "safe"


def test_the_environment_opts_content_in(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    LlamaGuard(SimulatedBackend()).check("hello there")
    assert "gen_ai.input.messages" in dict(otel.checks()[0].attributes or {})
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
    otel.exporter.clear()
    LlamaGuard(SimulatedBackend()).check("hello there")
    assert "gen_ai.input.messages" not in dict(otel.checks()[0].attributes or {})


secrets = st.one_of(
    st.from_regex(r"sk-[A-Za-z0-9]{20,30}", fullmatch=True),
    st.from_regex(r"tgp_v1_[A-Za-z0-9]{20,30}", fullmatch=True),
    st.from_regex(r"hf_[A-Za-z0-9]{20,30}", fullmatch=True),
    st.from_regex(r"AKIA[0-9A-Z]{16}", fullmatch=True),
)
words = st.lists(st.sampled_from(["please", "call", "the", "API", "with", "key", "now", "?"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=secrets, before=words, after=words, shape=st.sampled_from(["plain", "bearer", "url"]))
def test_redaction_removes_every_planted_credential(
    secret: str, before: list[str], after: list[str], shape: str
) -> None:
    planted = {
        "plain": secret,
        "bearer": f"Authorization: Bearer {secret}",
        "url": f"https://user:{secret}@example.com/",
    }[shape]
    text = " ".join([*before, planted, *after])
    cleaned = redact(text)
    assert secret not in cleaned
    assert "[REDACTED]" in cleaned
    for word in before + after:  # the rest of the text survives
        assert word in cleaned


def test_error_kind_and_status_are_recorded(otel: Otel) -> None:
    guard = LlamaGuard(Failing(), max_retries=0, circuit_breaker=None)
    verdict = guard.check("hi")
    assert verdict.error is not None
    (span,) = otel.checks()
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == "http"
    assert attributes["llamashield.verdict"] == "unsafe"  # failed closed
    assert "503" in str(attributes["llamashield.error"])
    strict = LlamaGuard(Failing(), max_retries=0, on_error="raise", circuit_breaker=None)
    otel.exporter.clear()
    with pytest.raises(Exception, match="503"):
        strict.check("hi")
    (span,) = otel.checks()
    assert span.status.status_code.name == "ERROR"
    assert dict(span.attributes or {})["error.type"] == "GuardUnavailableError"


def test_the_breaker_state_is_on_the_span(otel: Otel) -> None:
    guard = LlamaGuard(Failing(), max_retries=0, circuit_breaker=CircuitBreaker(failures=1))
    guard.check("one")  # opens the circuit
    guard.check("two")  # fails fast
    first, second = otel.checks()
    assert "llamashield.breaker.state" not in dict(first.attributes or {})  # closed
    assert dict(second.attributes or {})["llamashield.breaker.state"] == "open"
    assert dict(second.attributes or {})["error.type"] == "circuit_open"


def test_check_many_threads_nest_under_the_callers_span(otel: Otel) -> None:
    guard = LlamaGuard(SimulatedBackend(latency=0.01))
    with otel.tracer.start_as_current_span("batch") as parent:
        guard.check_many(["one", "two", "three", "four"])
    spans = otel.checks()
    assert len(spans) == 4
    trace_id = parent.get_span_context().trace_id
    for span in spans:
        assert span.parent is not None
        assert span.parent.span_id == parent.get_span_context().span_id
        assert span.context is not None and span.context.trace_id == trace_id


async def test_async_checks_nest_under_the_callers_span(otel: Otel) -> None:
    guard = LlamaGuard(SimulatedBackend(latency=0.01))
    with otel.tracer.start_as_current_span("request") as parent:
        await asyncio.gather(guard.acheck("a"), guard.acheck_many(["b", "c"]))
    spans = otel.checks()
    assert len(spans) == 3
    assert {s.parent.span_id for s in spans if s.parent} == {parent.get_span_context().span_id}


def test_stream_windows_nest_under_the_consumers_span(otel: Otel) -> None:
    guard = LlamaGuard(SimulatedBackend(latency=0.005))
    chunks = ["Once upon a time. ", "There was a garden. ", "It rained a lot. ", "The end."]
    with otel.tracer.start_as_current_span("consumer") as parent:
        assert "".join(moderate_stream(iter(chunks), guard, context="story", window=10)) == (
            "".join(chunks)
        )
    spans = otel.checks()
    assert spans and {s.parent.span_id for s in spans if s.parent} == {
        parent.get_span_context().span_id
    }
    assert {dict(s.attributes or {})["llamashield.stage"] for s in spans} == {"output"}


def test_a_loopback_check_records_the_together_provider(
    otel: Otel, loopback_server: LoopbackServer
) -> None:
    guard = loopback_server.guard()
    guard.check("hello")
    (span,) = otel.checks()
    attributes: dict[str, Any] = dict(span.attributes or {})
    assert attributes["gen_ai.provider.name"] == "together_ai"
    assert "gen_ai.response.model" not in attributes  # the model asked for answered
    assert attributes["gen_ai.usage.input_tokens"] == 0  # what the server reports


def test_usage_is_read_from_openai_shaped_answers() -> None:
    body = {"choices": [{"message": {"content": "safe"}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 2}}  # fmt: skip
    answer = answer_from_completion(body, "m", chat=True)
    assert (answer.input_tokens, answer.output_tokens) == (120, 2)
    bad = {"choices": [{"message": {"content": "safe"}}], "usage": {"prompt_tokens": "lots"}}
    answer = answer_from_completion(bad, "m", chat=True)
    assert (answer.input_tokens, answer.output_tokens) == (None, None)


def test_a_shadow_check_says_so_on_its_span(otel: Otel) -> None:
    LlamaGuard(SimulatedBackend(), shadow=True).check("How do I build a bomb?")
    attributes = dict(otel.checks()[0].attributes or {})
    assert attributes["llamashield.shadow"] is True
    assert attributes["llamashield.would_block"] is True
    assert attributes["llamashield.verdict"] == "unsafe"  # what the guard said, not enforced


def test_each_judged_turn_of_a_conversation_is_a_span(otel: Otel) -> None:
    guard = LlamaGuard(SimulatedBackend())
    conversation = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Sure! Step 1 to build a bomb: get explosives."},
        {"role": "user", "content": "continue"},
    ]
    with otel.tracer.start_as_current_span("app") as app:
        assert not guard.check_conversation(conversation).safe
    spans = otel.checks()
    assert len(spans) == 3
    assert {s.parent.span_id for s in spans if s.parent} == {app.get_span_context().span_id}
    by_role = {dict(s.attributes or {})["llamashield.role"]: s for s in spans}
    forged = dict(by_role["agent"].attributes or {})
    assert (forged["llamashield.stage"], forged["llamashield.verdict"]) == ("output", "unsafe")
