"""Shadow mode in the core: every check runs and is recorded, nothing is enforced, and a guard
that fails (or cannot read its input) never raises."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import given, settings

from llamashield import LlamaGuard, verdict_metadata
from llamashield.backends import SimulatedBackend
from llamashield.streaming import amoderate_stream, moderate_stream
from tests.shadow._script import ANSWERS, Answer, ScriptBackend, scripts


def test_a_shadow_verdict_passes_and_says_what_enforcing_would_do() -> None:
    guard = LlamaGuard(SimulatedBackend(), shadow=True)
    verdict = guard.check("How do I make a bomb?")
    assert verdict.safe and verdict.shadow and verdict.would_block is True and verdict.flagged
    assert verdict.codes == ("S8",)  # the judgement is kept
    assert str(verdict).startswith("shadow (would block): unsafe: S8")
    calm = guard.check("hello")
    assert calm.safe and calm.would_block is False and not calm.flagged
    record = verdict_metadata(verdict, stage="input")
    assert record["safe"] is True and record["shadow"] is True and record["would_block"] is True
    assert json.loads(json.dumps(record))["categories"] == ["S8"]
    enforcing = LlamaGuard(SimulatedBackend()).check("How do I make a bomb?")
    assert "shadow" not in verdict_metadata(enforcing) and enforcing.would_block is None
    assert enforcing.flagged


@pytest.mark.parametrize("on_error", ["block", "allow", "raise"])
def test_a_failing_guard_never_raises_in_shadow(on_error: str) -> None:
    guard = LlamaGuard(ScriptBackend(["error"]), shadow=True, on_error=on_error,  # type: ignore[arg-type]
                       max_retries=0, circuit_breaker=None)  # fmt: skip
    verdict = guard.check("hello")
    assert verdict.safe and verdict.error is not None
    assert verdict.would_block is (on_error != "allow")
    assert all(v.safe for v in guard.check_many(["a", "b"]))
    assert asyncio.run(guard.acheck("c")).safe


def test_input_the_guard_cannot_read_fails_nothing_in_shadow() -> None:
    guard = LlamaGuard(SimulatedBackend(), shadow=True)
    with pytest.raises(TypeError):
        LlamaGuard(SimulatedBackend()).check(object())
    verdict = guard.check(object())
    assert verdict.safe and verdict.would_block is True and "TypeError" in (verdict.error or "")
    mixed = guard.check_many(["hello", object(), "bomb"])
    assert [v.would_block for v in mixed] == [False, True, True]
    amixed = asyncio.run(guard.acheck_many(["hello", object(), "bomb"]))
    assert [v.would_block for v in amixed] == [False, True, True]


def test_a_shadow_view_shares_the_guard_and_the_cache_keeps_real_verdicts() -> None:
    backend = SimulatedBackend()
    guard = LlamaGuard(backend, cache=True)
    shadow = guard.with_shadow(True)
    assert shadow is not guard and shadow.backend is backend and shadow._cache is guard._cache
    assert guard.with_shadow(None) is guard and guard.with_shadow(False) is guard
    assert shadow.with_shadow(False).shadow is False and guard.shadow is False
    assert shadow.check("bomb").would_block
    cached = guard.check("bomb")  # the enforcing guard reads the cached, unshadowed verdict
    assert cached.cached and not cached.safe and not cached.shadow
    assert backend.calls == 1
    with pytest.raises(TypeError):
        guard.with_shadow("yes")  # type: ignore[arg-type]


def test_would_block_verdicts_are_logged_without_content(caplog: pytest.LogCaptureFixture) -> None:
    guard = LlamaGuard(SimulatedBackend(), shadow=True)
    with caplog.at_level(logging.INFO, logger="llamashield"):
        guard.check("How do I make a bomb? secret-words-xyz")
        guard.check("hello")
    lines = [r.getMessage() for r in caplog.records if "shadow" in r.getMessage()]
    assert len(lines) == 1 and "codes=S8" in lines[0] and "stage=input" in lines[0]
    assert "secret-words-xyz" not in caplog.text


@settings(max_examples=40, deadline=None)
@given(script=scripts)
def test_shadow_verdicts_record_what_the_enforcing_guard_decides(script: list[Answer]) -> None:
    texts = [f"message {i}" for i in range(len(script))]
    enforcing = LlamaGuard(ScriptBackend(script), max_retries=0, circuit_breaker=None)
    shadow = LlamaGuard(ScriptBackend(script), max_retries=0, circuit_breaker=None, shadow=True)
    for text in texts:  # one at a time: both backends answer in the same order
        real, seen = enforcing.check(text), shadow.check(text)
        assert seen.safe and seen.shadow
        assert seen.would_block == (not real.safe)
        assert (seen.codes, seen.error) == (real.codes, real.error)


@settings(max_examples=30, deadline=None)
@given(script=scripts)
def test_a_shadow_stream_releases_everything_as_it_arrives(script: list[Answer]) -> None:
    guard = LlamaGuard(ScriptBackend(script), max_retries=0, circuit_breaker=None, shadow=True)
    chunks = ["One sentence here. ", "Another one there. ", "A third, longer one. ", "End."]
    released: list[str] = []
    source_pulled: list[int] = []

    def source() -> Iterator[str]:
        for i, chunk in enumerate(chunks):
            # Everything before this chunk already reached the consumer: nothing is held back.
            assert len(released) == i
            source_pulled.append(i)
            yield chunk

    stream = moderate_stream(source(), guard, context="tell me", window=10)
    for text in stream:
        released.append(text)
    assert released == chunks and stream.blocked is None
    assert stream.verdicts and all(v.shadow for v in stream.verdicts)

    async def arun() -> list[str]:
        async def agen() -> AsyncIterator[str]:
            for chunk in chunks:
                yield chunk

        return [t async for t in amoderate_stream(agen(), guard, context="tell me", window=10)]

    assert asyncio.run(arun()) == chunks


def test_every_answer_kind_is_scripted() -> None:
    backend = ScriptBackend(list(ANSWERS))
    guard = LlamaGuard(backend, max_retries=0, circuit_breaker=None)
    verdicts = [guard.check(str(i)) for i in range(4)]
    assert [v.safe for v in verdicts] == [True, False, False, False]
    assert verdicts[2].error and verdicts[3].error  # the outage and the unreadable answer
