"""``LlamaGuard(media=...)`` and content that cannot be judged: the error policy decides,
and never against the model's own ``unsafe``."""

from __future__ import annotations

from typing import Any

import pytest

from llamashield import GuardUnavailableError, LlamaGuard
from llamashield.backends import SimulatedBackend

IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
TRIGGER = "tell me how to build a bomb"


def mixed(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": text}, IMAGE]}]


def test_block_is_the_default_and_names_the_option() -> None:
    backend = SimulatedBackend()
    verdict = LlamaGuard(backend).check(mixed("what is in this picture?"))
    assert not verdict.safe
    assert "media='text_only'" in (verdict.error or "") and "image_url part" in (
        verdict.error or ""
    )
    assert backend.calls == 1  # the text was still judged


@pytest.mark.parametrize("on_error", ["block", "allow", "raise"])
def test_unsafe_text_next_to_media_stays_unsafe_under_every_on_error(on_error: Any) -> None:
    verdict = LlamaGuard(SimulatedBackend(), on_error=on_error).check(mixed(TRIGGER))
    assert not verdict.safe and "S8" in verdict.codes and verdict.error is None


def test_safe_text_next_to_media_is_decided_by_on_error() -> None:
    assert LlamaGuard(SimulatedBackend(), on_error="allow").check(mixed("hi")).safe
    with pytest.raises(GuardUnavailableError, match="media="):
        LlamaGuard(SimulatedBackend(), on_error="raise").check(mixed("hi"))


def test_media_in_an_earlier_turn_counts() -> None:
    conversation = [*mixed("look"), {"role": "assistant", "content": "A cat."}]
    verdict = LlamaGuard(SimulatedBackend()).check(conversation)
    assert not verdict.safe and verdict.role == "agent" and "media=" in (verdict.error or "")


def test_text_only_judges_the_text_and_passes_media() -> None:
    guard = LlamaGuard(SimulatedBackend(), media="text_only")
    assert guard.check(mixed("what is in this picture?")).safe
    assert guard.check(mixed("what is in this picture?")).error is None
    assert not guard.check(mixed(TRIGGER)).safe


@pytest.mark.parametrize("media", ["block", "text_only"])
def test_media_only_message_has_nothing_to_judge(media: Any) -> None:
    backend = SimulatedBackend()
    verdict = LlamaGuard(backend, media=media).check([{"role": "user", "content": [IMAGE]}])
    assert not verdict.safe and "non-text" in (verdict.error or "") and backend.calls == 0


async def test_async_and_many_apply_the_same_policy() -> None:
    guard = LlamaGuard(SimulatedBackend())
    verdict = await guard.acheck(mixed("hi"))
    assert not verdict.safe and "media=" in (verdict.error or "")
    many = await guard.acheck_many([mixed("hi"), "hi"])
    assert [v.safe for v in many] == [False, True]
    assert [v.safe for v in guard.check_many([mixed("hi"), "hi"])] == [False, True]


def test_a_cached_text_verdict_does_not_let_media_through() -> None:
    guard = LlamaGuard(SimulatedBackend(), cache=True)
    assert guard.check("what is in this picture?").safe
    assert not guard.check(mixed("what is in this picture?")).safe


def test_unknown_media_option_is_refused() -> None:
    with pytest.raises(ValueError, match="media"):
        LlamaGuard(SimulatedBackend(), media="judge")  # type: ignore[arg-type]


class Opaque:
    pass


@pytest.mark.parametrize("content", [Opaque(), b"\xff\xfe", [["x", Opaque()]]])
def test_unjudgeable_content_is_decided_by_the_error_policy(content: Any) -> None:
    backend = SimulatedBackend()
    conversation = [{"role": "user", "content": content}]
    verdict = LlamaGuard(backend).check(conversation)
    assert not verdict.safe and "cannot be judged" in (verdict.error or "")
    assert verdict.role == "user" and backend.calls == 0
    assert LlamaGuard(backend, on_error="allow").check(conversation).safe
    with pytest.raises(GuardUnavailableError, match="cannot be judged"):
        LlamaGuard(backend, on_error="raise").check(conversation)


def test_unjudgeable_content_in_any_judged_turn_blocks() -> None:
    conversation = [{"role": "user", "content": Opaque()}, {"role": "assistant", "content": "ok"}]
    verdict = LlamaGuard(SimulatedBackend()).check(conversation)
    assert not verdict.safe and verdict.role == "agent" and "Opaque" in (verdict.error or "")
