"""The shared vocabulary (stages, on_unsafe, Blocked, refusal, metadata) and closing guards."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamashield import (
    DEFAULT_REFUSAL,
    BackendError,
    Blocked,
    Category,
    CircuitBreaker,
    LlamaGuard,
    LlamaShieldError,
    UnsafeContentError,
    Verdict,
    format_refusal,
    verdict_metadata,
)
from llamashield._blocked import STAGES, parse_on_unsafe
from llamashield.backends import OpenAICompatibleBackend, SimulatedBackend
from llamashield.backends._microbatch import MicroBatcher
from llamashield.testing import LoopbackServer

HATE = Category("S9", "Hate")
UNSAFE = Verdict(safe=False, categories=(HATE,), role="user", model="m", raw="unsafe\nS9")

verdicts = st.builds(
    Verdict,
    safe=st.booleans(),
    categories=st.lists(
        st.builds(
            Category,
            code=st.from_regex(r"S[1-9][0-9]?", fullmatch=True),
            name=st.text(min_size=1, max_size=20).filter(str.strip),
        ),
        max_size=3,
    ).map(tuple),
    score=st.none() | st.floats(0, 1),
    role=st.sampled_from(["user", "agent"]),
    model=st.text(max_size=10),
    error=st.none() | st.text(max_size=20),
)


# -- stages -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_stage_names_pass_unchanged(stage: str) -> None:
    error = UnsafeContentError(UNSAFE, stage)
    assert error.stage == stage and type(error.stage) is str
    assert f"unsafe {stage} blocked" in str(error)


# -- on_unsafe --------------------------------------------------------------------------------


def test_on_unsafe_parses_names_aliases_and_targets() -> None:
    assert parse_on_unsafe("raise").mode == "raise"
    assert parse_on_unsafe("refuse", refusal="no").refusal == "no"
    assert parse_on_unsafe(print).mode == "reroute"
    aliases = {"error": "raise"}
    modes = ("raise", "refuse", "end", "replace")
    assert parse_on_unsafe("error", modes=modes, aliases=aliases).mode == "raise"
    assert parse_on_unsafe("end", modes=modes).mode == "end"
    for wrong in ("refused", "end", 3, None):
        with pytest.raises(ValueError, match="on_unsafe must be"):
            parse_on_unsafe(wrong)
    with pytest.raises(TypeError):
        parse_on_unsafe("refuse", refusal=3)  # type: ignore[arg-type]


# -- Blocked, refusal, metadata ---------------------------------------------------------------


def test_blocked_payload() -> None:
    blocked = Blocked(UNSAFE, "input", "the text", "refused")
    assert str(blocked) == "refused" and blocked.categories == ["S9"]
    assert blocked.content == "the text" and blocked.verdict is UNSAFE
    assert json.loads(json.dumps(blocked.to_dict()))["stage"] == "input"


@given(verdicts, st.sampled_from(STAGES), st.text(max_size=30))
@settings(max_examples=60, deadline=None)
def test_refusal_templates_never_fail(verdict: Verdict, stage: str, template: str) -> None:
    assert isinstance(format_refusal(template, verdict, stage=stage), str)
    text = format_refusal(None, verdict, stage=stage)
    names = ", ".join(c.name for c in verdict.categories)
    assert names in text and text.startswith(DEFAULT_REFUSAL.split("{")[0])


@given(verdicts, st.none() | st.sampled_from(STAGES))
@settings(max_examples=60, deadline=None)
def test_verdict_metadata_is_json_ready_and_of_one_shape(verdict: Verdict, stage: Any) -> None:
    record = verdict_metadata(verdict, stage=stage)
    assert json.loads(json.dumps(record)) == record
    assert set(record) == {"safe", "stage", "categories", "category_names", "score", "role",
                           "model", "error", "cached"}  # fmt: skip
    assert record["safe"] is verdict.safe and record["categories"] == list(verdict.codes)


# -- exports and the exception tree -----------------------------------------------------------


def test_backend_error_is_in_the_tree_and_breaker_importable() -> None:
    assert issubclass(BackendError, LlamaShieldError) and issubclass(BackendError, Exception)
    with pytest.raises(BackendError):
        raise BackendError("x", kind="timeout")
    assert CircuitBreaker(failures=2).failures == 2


# -- lifecycle --------------------------------------------------------------------------------


def test_a_closed_guard_fails_closed() -> None:
    backend = SimulatedBackend()
    with LlamaGuard(backend, circuit_breaker=None) as guard:
        assert guard.check("hello").safe
    assert backend.closed
    verdict = guard.check("hello")
    assert not verdict.safe and "closed" in (verdict.error or "")


async def test_async_context_manager_closes_the_async_http_clients(
    loopback_server: LoopbackServer,
) -> None:
    backend = OpenAICompatibleBackend(
        base_url=loopback_server.openai_base_url,
        model="meta-llama/LlamaGuard-2-8b",
        api_key=loopback_server.api_key or "test",
    )
    async with LlamaGuard(backend) as guard:
        assert (await guard.acheck("hello")).safe
        clients = backend._aclients.values()
        assert clients and not any(c.is_closed for c in clients)
    assert all(c.is_closed for c in clients) and backend._client.is_closed


@pytest.mark.parametrize("kind", ["together", "openai"])
async def test_every_http_backend_closes_sync_and_async_clients(
    loopback_server: LoopbackServer, kind: str
) -> None:
    guard = loopback_server.guard() if kind == "together" else loopback_server.openai_guard()
    backend: Any = guard.backend
    await guard.acheck("hello")
    clients = backend._aclients.values()
    await guard.aclose()
    assert all(c.is_closed() if callable(c.is_closed) else c.is_closed for c in clients)
    sync = backend._client
    assert sync.is_closed() if callable(sync.is_closed) else sync.is_closed
    with pytest.raises(BackendError, match="closed"):
        backend.complete(guard.prepare("hi"), timeout=1)


def test_micro_batcher_worker_stops_on_close_and_restarts_on_use() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(lambda xs: [x * 2 for x in xs], max_batch_size=4)
    assert batcher.submit(21).result(timeout=5) == 42
    worker = batcher._worker
    assert worker is not None and worker.is_alive()
    batcher.close(timeout=5)
    assert not worker.is_alive()
    assert batcher.submit(2).result(timeout=5) == 4  # used again: a fresh worker
    batcher.close(timeout=5)
    assert not any(t.name == "llamashield-batcher" and t.is_alive() for t in threading.enumerate())


def test_requests_carry_the_guard_threshold() -> None:
    guard = LlamaGuard(SimulatedBackend(), threshold=0.3)
    assert guard.prepare("hi").threshold == 0.3
    assert LlamaGuard(SimulatedBackend()).prepare("hi").threshold is None
