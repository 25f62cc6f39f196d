"""The parser and the policy as one table: every raw answer, under every ``on_error``, with and
without a threshold and a score, gives the verdict written here.

What a raw answer *is* is stated once per row (``SAFE``, ``UNSAFE``, ``SAID_UNSAFE``: the first
line is ``unsafe`` but the rest cannot be read, ``UNREADABLE``); what each kind becomes under a
policy is stated once below. The model's word stands: ``SAID_UNSAFE`` is unsafe everywhere.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from llamashield import LLAMA_GUARD_2, LlamaGuard, VerdictParseError
from llamashield._conversation import Turn
from llamashield._policy import build_policy
from llamashield.backends._base import BackendAnswer, BaseBackend, GuardRequest

SAFE, UNSAFE, SAID_UNSAFE, UNREADABLE = "safe", "unsafe", "said unsafe", "unreadable"

ANSWERS: list[tuple[Any, str, tuple[str, ...]]] = [
    ("safe", SAFE, ()),
    ("  safe\n", SAFE, ()),
    ("\n\nsafe<|eot_id|>", SAFE, ()),
    ("unsafe", UNSAFE, ()),
    ("unsafe\nS1", UNSAFE, ("S1",)),
    ("unsafe\nS1,S9", UNSAFE, ("S1", "S9")),
    ("unsafe\ns2, S2", UNSAFE, ("S2",)),
    ("unsafe\nS99", SAID_UNSAFE, ()),
    ("unsafe\nS1,", SAID_UNSAFE, ("S1",)),
    ("unsafe\nS1,S2,S", SAID_UNSAFE, ("S1", "S2")),
    ("unsafe\nS1\nmore", SAID_UNSAFE, ()),
    ("UNSAFE\nO3", SAID_UNSAFE, ()),
    ("", UNREADABLE, ()),
    ("   \n ", UNREADABLE, ()),
    ("I cannot help with that.", UNREADABLE, ()),
    ("safe\nextra", UNREADABLE, ()),
    ("safety first", UNREADABLE, ()),
    (None, UNREADABLE, ()),
    (3, UNREADABLE, ()),
]
POLICIES = [
    pytest.param(on_error, threshold, score, id=f"{on_error}-t{threshold}-s{score}")
    for on_error in ("block", "allow", "raise")
    for threshold, score in [(None, None), (None, 0.9), (0.5, None), (0.5, 0.9), (0.5, 0.1)]
]
REQUEST = GuardRequest((Turn("user", "q"),), LLAMA_GUARD_2)


def expected(kind: str, on_error: str, threshold: float | None, score: float | None) -> Any:
    """(safe, error expected) for a kind under a policy, or the exception it raises."""
    if kind == SAID_UNSAFE:
        return False, True  # the model said unsafe: no on_error, no threshold overrules it
    if kind == UNREADABLE:
        return {"block": (False, True), "allow": (True, True), "raise": VerdictParseError}[on_error]
    if threshold is None:
        return kind == SAFE, False
    if score is None:
        return kind == SAFE, True  # decided by the text; the missing score is recorded
    return score < threshold, False


@pytest.mark.parametrize(("raw", "kind", "codes"), ANSWERS, ids=[repr(a[0]) for a in ANSWERS])
@pytest.mark.parametrize(("on_error", "threshold", "score"), POLICIES)
def test_verdict_table(
    raw: Any, kind: str, codes: tuple[str, ...], on_error: Any, threshold: Any, score: Any
) -> None:
    policy = build_policy(LLAMA_GUARD_2, None, threshold, on_error)
    answer = BackendAnswer(raw, score, "m")
    want = expected(kind, on_error, threshold, score)
    if isinstance(want, type):
        with pytest.raises(want):
            policy.decide(REQUEST, answer, 1.0)
        return
    verdict = policy.decide(REQUEST, answer, 1.0)
    assert (verdict.safe, verdict.error is not None) == want, verdict
    if kind != UNREADABLE:
        assert verdict.codes == codes and verdict.raw == raw and verdict.score == score


@pytest.mark.parametrize("raw", ["unsafe\nS99", "unsafe\nS1,S2,S", "unsafe\nS1\nmore"])
@pytest.mark.parametrize("on_error", ["block", "allow", "raise"])
def test_said_unsafe_stays_unsafe_through_the_guard(raw: str, on_error: Any) -> None:
    verdict = LlamaGuard(_Fixed(raw), on_error=on_error).check("hello")
    assert not verdict.safe and verdict.error and verdict.raw == raw


def test_an_unsafe_answer_in_an_unenforced_category_is_reported_not_blocked() -> None:
    policy = build_policy(LLAMA_GUARD_2, ["S1"], None, "block")
    verdict = policy.decide(REQUEST, BackendAnswer("unsafe\nS9", None, "m"), 1.0)
    assert verdict.safe and verdict.codes == ("S9",)
    # ...but an unreadable code line next to it fails closed, even outside the policy's subset.
    verdict = policy.decide(REQUEST, BackendAnswer("unsafe\nS9,S99", None, "m"), 1.0)
    assert not verdict.safe and verdict.error


def test_a_missing_score_is_logged_once_per_guard(caplog: pytest.LogCaptureFixture) -> None:
    guard = LlamaGuard(_Fixed("safe"), threshold=0.5)
    with caplog.at_level(logging.WARNING, logger="llamashield"):
        verdicts = [guard.check("hello"), guard.check("hello again")]
    assert [r.getMessage().count("no score") for r in caplog.records] == [1]
    assert all(v.safe and "no score" in (v.error or "") for v in verdicts)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="llamashield"):
        LlamaGuard(_Fixed("safe"), threshold=0.5).check("hello")
    assert len(caplog.records) == 1  # once per guard, not once per process


class _Fixed(BaseBackend):
    """A backend that always answers ``raw`` (no score)."""

    model = "fixed"
    taxonomy = LLAMA_GUARD_2

    def __init__(self, raw: str) -> None:
        self.raw = raw

    def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        return BackendAnswer(self.raw)

    async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        return BackendAnswer(self.raw)


def test_the_table_covers_every_kind() -> None:
    assert {kind for _, kind, _ in ANSWERS} == {SAFE, UNSAFE, SAID_UNSAFE, UNREADABLE}
