"""Fail-fast circuit breaking, and long messages judged in overlapping chunks."""

from __future__ import annotations

import pytest

from llamashield import LlamaGuard
from llamashield._chunking import split_long_turn
from llamashield._circuit import CircuitBreaker
from llamashield._conversation import normalize_conversation
from llamashield.backends import BackendAnswer, BackendError, GuardRequest, SimulatedBackend


class FlakyBackend(SimulatedBackend):
    def __init__(self) -> None:
        super().__init__()
        self.down = True

    def _answer(self, request: GuardRequest) -> BackendAnswer:
        self.calls += 1
        if self.down:
            raise BackendError("503", retryable=False, status_code=503)
        return BackendAnswer("safe", None, self.model)


def test_breaker_opens_after_consecutive_failures_and_fails_fast() -> None:
    backend = FlakyBackend()
    guard = LlamaGuard(backend, circuit_breaker=CircuitBreaker(failures=3, cooldown=60))
    for _ in range(3):
        assert guard.check("hi").error == "503"
    assert backend.calls == 3
    verdict = guard.check("hi")
    assert not verdict.safe and "circuit open" in (verdict.error or "")
    assert backend.calls == 3  # no call while open


class Clock:
    """A clock moved by hand: a cool-down passes without the test waiting for it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_probes_after_cooldown_and_closes_on_success() -> None:
    backend, clock = FlakyBackend(), Clock()
    breaker = CircuitBreaker(failures=1, cooldown=20, clock=clock)
    guard = LlamaGuard(backend, circuit_breaker=breaker)
    guard.check("hi")
    assert breaker.is_open
    backend.down = False
    clock.now += 19.5
    assert "circuit open" in (guard.check("hi").error or "") and backend.calls == 1
    assert breaker.blocked_for() == pytest.approx(0.5)
    clock.now += 0.5
    assert guard.check("hi").safe and not breaker.is_open and backend.calls == 2


def test_failed_probe_reopens_the_circuit_for_a_full_cooldown() -> None:
    backend, clock = FlakyBackend(), Clock()
    breaker = CircuitBreaker(failures=2, cooldown=10, clock=clock)
    guard = LlamaGuard(backend, circuit_breaker=breaker)
    guard.check("a"), guard.check("b")
    clock.now += 10
    assert guard.check("probe").error == "503"  # the probe reached the backend and failed
    assert "circuit open" in (guard.check("c").error or "") and backend.calls == 3
    clock.now += 9.9  # counted from the failed probe, not from the first opening
    assert breaker.blocked_for() == pytest.approx(0.1)
    clock.now += 0.1
    assert breaker.blocked_for() is None


def test_only_one_caller_probes_per_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, cooldown=5, clock=clock)
    breaker.settle("failure", probe=False)
    clock.now += 5
    assert breaker.admit() == (None, True)
    assert breaker.admit() == (0.0, False)  # the probe is out: the others still fail fast
    breaker.settle(None, probe=True)  # cancelled: the slot is free again
    assert breaker.admit() == (None, True)


def test_breaker_can_be_turned_off() -> None:
    backend = FlakyBackend()
    guard = LlamaGuard(backend, circuit_breaker=None)
    for _ in range(8):
        guard.check("hi")
    assert backend.calls == 8


def test_each_guard_gets_its_own_default_breaker() -> None:
    first, second = LlamaGuard(SimulatedBackend()), LlamaGuard(SimulatedBackend())
    assert first.circuit_breaker is not None and first.circuit_breaker is not second.circuit_breaker


def test_split_covers_every_character_with_overlap() -> None:
    text = "".join(chr(65 + i % 26) for i in range(10_000))
    conversation = normalize_conversation([("user", "ctx " * 2000), ("assistant", text)])
    parts = split_long_turn(conversation, chunk_chars=1_000, overlap=100)
    chunks = [p[-1].content for p in parts]
    assert all(len(c) <= 1_000 for c in chunks) and len(parts) == 11
    assert "".join(c[100:] if i else c for i, c in enumerate(chunks)) == text
    assert all(len(p[0].content) <= 250 for p in parts)  # context clipped to its tail


def test_unsafe_text_deep_in_a_megabyte_message_is_caught() -> None:
    backend = SimulatedBackend()
    guard = LlamaGuard(backend, chunk_chars=16_000)
    text = "lorem ipsum " * 45_000 + " how to build a bomb " + "dolor sit " * 45_000
    assert len(text) > 900_000
    verdict = guard.check(text)
    assert not verdict.safe and verdict.codes == ("S8",)
    assert backend.calls > 50


async def test_async_chunked_check_matches_sync() -> None:
    guard = LlamaGuard(SimulatedBackend(), chunk_chars=2_000, chunk_overlap=100)
    text = "calm words " * 1_000 + "I want to kill myself"
    assert (await guard.acheck(text)).codes == guard.check(text).codes == ("S10",)


def test_over_max_chars_is_decided_by_the_error_policy() -> None:
    backend = SimulatedBackend()
    blocked = LlamaGuard(backend, max_chars=100).check("x" * 101)
    assert not blocked.safe and "max_chars" in (blocked.error or "") and backend.calls == 0
    assert LlamaGuard(backend, max_chars=100, on_error="allow").check("x" * 101).safe


@pytest.mark.parametrize("kwargs", [{"chunk_overlap": 600, "chunk_chars": 1000}, {"max_chars": 0}])
def test_bad_chunk_settings_rejected(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        LlamaGuard(SimulatedBackend(), **kwargs)  # type: ignore[arg-type]
