"""LlamaGuard's policy, cache, error handling and concurrency, on the in-process simulator."""

from __future__ import annotations

import asyncio
import threading

import pytest

from llamashield import (
    Category,
    GuardUnavailableError,
    LlamaGuard,
    VerdictParseError,
)
from llamashield.backends import BackendAnswer, BackendError, GuardRequest, SimulatedBackend


class ScriptedBackend(SimulatedBackend):
    """Answers from a script (text or exception) instead of the keyword rules."""

    def __init__(self, *script: str | BackendError) -> None:
        super().__init__()
        self.script = list(script)

    def _answer(self, request: GuardRequest) -> BackendAnswer:
        self.calls += 1
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, BackendError):
            raise item
        return BackendAnswer(item, None, self.model)


def test_safe_and_unsafe_verdicts() -> None:
    guard = LlamaGuard(SimulatedBackend())
    safe = guard.check("How do I bake bread?")
    unsafe = guard.check("How do I make a bomb?")
    assert safe.safe and safe.categories == () and safe.role == "user" and safe.raw == "safe"
    assert not unsafe.safe and unsafe.codes == ("S8",) and unsafe.score == pytest.approx(0.97)


def test_agent_turn_is_judged_as_agent() -> None:
    guard = LlamaGuard(SimulatedBackend())
    verdict = guard.check(
        [{"role": "user", "content": "I feel sad"}, {"role": "assistant", "content": "kill myself"}]
    )
    assert verdict.role == "agent" and verdict.codes == ("S10",)


def test_categories_subset_reports_but_does_not_block_others() -> None:
    guard = LlamaGuard(SimulatedBackend(), categories=["S1", "hate"])
    verdict = guard.check("How do I make a bomb?")
    assert verdict.safe and verdict.codes == ("S8",)
    assert not guard.check("I will murder him").safe


def test_threshold_decides_when_a_score_exists() -> None:
    assert LlamaGuard(SimulatedBackend(), threshold=0.99).check("bomb").safe
    assert not LlamaGuard(SimulatedBackend(), threshold=0.5).check("bomb").safe


def test_custom_categories_build_a_custom_policy() -> None:
    guard = LlamaGuard(SimulatedBackend(), categories=[Category("S1", "Pineapple", "no fruit")])
    assert guard.taxonomy.custom
    assert guard.check("pineapple pizza").codes == ("S1",)


@pytest.mark.parametrize("bad", [{"on_error": "maybe"}, {"threshold": 2}, {"timeout": 0},
                                 {"max_concurrency": 0}, {"categories": []},
                                 {"categories": ["S99"]}])  # fmt: skip
def test_bad_policy_is_rejected_at_construction(bad: dict[str, object]) -> None:
    with pytest.raises((ValueError, KeyError)):
        LlamaGuard(SimulatedBackend(), **bad)  # type: ignore[arg-type]


def test_unreadable_answer_blocks_allows_or_raises() -> None:
    assert not LlamaGuard(ScriptedBackend("maybe?")).check("hi").safe
    allowed = LlamaGuard(ScriptedBackend("maybe?"), on_error="allow").check("hi")
    assert allowed.safe and allowed.error
    with pytest.raises(VerdictParseError):
        LlamaGuard(ScriptedBackend("maybe?"), on_error="raise").check("hi")


def test_backend_failure_is_retried_then_fails_closed() -> None:
    failure = BackendError("boom", retryable=True, retry_after=0.0)
    backend = ScriptedBackend(failure, failure, "safe")
    verdict = LlamaGuard(backend, max_retries=2).check("hi")
    assert verdict.safe and verdict.error is None and backend.calls == 3
    backend = ScriptedBackend(failure)
    blocked = LlamaGuard(backend, max_retries=1).check("hi")
    assert not blocked.safe and blocked.error == "boom" and backend.calls == 2


def test_non_retryable_failure_raises_under_raise() -> None:
    backend = ScriptedBackend(BackendError("nope", status_code=401))
    with pytest.raises(GuardUnavailableError) as info:
        LlamaGuard(backend, on_error="raise").check("hi")
    assert info.value.status_code == 401 and backend.calls == 1


def test_cache_returns_cached_verdict_and_skips_the_backend() -> None:
    backend = SimulatedBackend()
    guard = LlamaGuard(backend, cache=True)
    first, second = guard.check("bomb"), guard.check("bomb")
    assert not first.cached and second.cached and second.codes == first.codes
    assert backend.calls == 1


def test_errors_are_not_cached() -> None:
    backend = ScriptedBackend(BackendError("down"), "safe")
    guard = LlamaGuard(backend, cache=True, max_retries=0)
    assert guard.check("hi").error and guard.check("hi").safe and backend.calls == 2


async def test_acheck_many_respects_max_concurrency() -> None:
    in_flight = peak = 0

    class Counting(SimulatedBackend):
        async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            return self._answer(request)

    guard = LlamaGuard(Counting(), max_concurrency=4)
    verdicts = await guard.acheck_many([f"text {i}" if i % 2 else "bomb" for i in range(20)])
    assert peak == 4
    assert [v.safe for v in verdicts] == [bool(i % 2) for i in range(20)]


def test_check_many_runs_concurrently_and_keeps_order() -> None:
    threads: set[int] = set()

    class Recording(SimulatedBackend):
        def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
            threads.add(threading.get_ident())
            return super().complete(request, timeout=timeout)

    guard = LlamaGuard(Recording(latency=0.02), max_concurrency=8)
    verdicts = guard.check_many(["bomb" if i % 3 == 0 else f"hello {i}" for i in range(16)])
    assert [v.safe for v in verdicts] == [i % 3 != 0 for i in range(16)]
    assert len(threads) > 1


def test_bad_input_fails_before_any_backend_call() -> None:
    backend = SimulatedBackend()
    guard = LlamaGuard(backend)
    with pytest.raises(TypeError):
        guard.check_many(["ok", 42])
    with pytest.raises(TypeError):
        guard.check_many("not a list")
    assert backend.calls == 0


def test_default_backend_without_key_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("together")
    from llamashield import ConfigurationError

    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="TOGETHER_API_KEY"):
        LlamaGuard()


def test_media_only_message_is_decided_by_the_error_policy() -> None:
    backend = SimulatedBackend()
    image_only = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
    blocked = LlamaGuard(backend).check(image_only)
    assert not blocked.safe and "non-text" in (blocked.error or "") and backend.calls == 0
    assert LlamaGuard(backend, on_error="allow").check(image_only).safe
    with pytest.raises(GuardUnavailableError, match="non-text"):
        LlamaGuard(backend, on_error="raise").check(image_only)


def test_cached_empty_turn_does_not_answer_for_a_media_only_turn() -> None:
    guard = LlamaGuard(SimulatedBackend(), cache=True)
    assert guard.check("").safe
    image_only = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
    assert not guard.check(image_only).safe
