"""Issue 13 in the core: ``TogetherBackend`` reads the SDK's raw response (same verdicts; a body
that is not JSON is an unreadable answer, never safe), and a one-request ``acheck`` makes no
task."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamashield import Category, LlamaGuard, VerdictParseError
from llamashield.backends import SimulatedBackend, TogetherBackend
from llamashield.testing import LoopbackServer
from tests._support.raw_http import RawServer

WORDS = ["bread", "bomb", "hello", "explosives", "garden", "steal", "rain", "sarin"]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)


@pytest.fixture
def not_json_url() -> Iterator[str]:
    with RawServer(lambda request: (200, b"<html>502 Bad Gateway</html>")) as server:
        yield server.url


@pytest.mark.parametrize("custom", [False, True], ids=["chat", "raw prompt"])
async def test_a_body_that_is_not_json_is_blocked_not_safe(not_json_url: str, custom: bool) -> None:
    policy = {"categories": [Category("S1", "Pineapple", "Pineapple on pizza.")]} if custom else {}
    backend = TogetherBackend(api_key="test-key", base_url=not_json_url)
    guard = LlamaGuard(backend, max_retries=0, **policy)  # type: ignore[arg-type]
    for verdict in (guard.check("hi"), await guard.acheck("hi")):
        assert not verdict.safe
        assert verdict.error is not None and "unreadable" in verdict.error
    strict = LlamaGuard(backend, max_retries=0, on_error="raise", **policy)  # type: ignore[arg-type]
    with pytest.raises(VerdictParseError):
        strict.check("hi")
    with pytest.raises(VerdictParseError):
        await strict.acheck("hi")


@settings(
    max_examples=25,
    deadline=None,
    # The server is stateless between examples (its request counts are not read here).
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(text=texts, logprobs=st.booleans(), custom=st.booleans())
def test_raw_answers_judge_as_the_simulator_does(
    loopback_server: LoopbackServer, text: str, logprobs: bool, custom: bool
) -> None:
    # custom: a trimmed policy goes through the raw-prompt endpoint instead of chat.
    policy: dict[str, Any] = {"categories": ["S8"], "exclude_from_prompt": True} if custom else {}
    guard = loopback_server.guard(logprobs=logprobs, **policy)
    reference = LlamaGuard(SimulatedBackend(), **policy)
    verdict, expected = guard.check(text), reference.check(text)
    assert (verdict.safe, verdict.codes, verdict.error) == (
        expected.safe,
        expected.codes,
        expected.error,
    )
    assert (verdict.score is not None) == logprobs


async def test_a_one_request_acheck_runs_in_the_callers_task() -> None:
    # No task per check (issue 13): the backend is awaited from the task that called acheck.
    seen: list[object] = []

    class Recording(SimulatedBackend):
        async def acomplete(self, request: Any, *, timeout: float) -> Any:
            seen.append(asyncio.current_task())
            return await super().acomplete(request, timeout=timeout)

    guard = LlamaGuard(Recording())
    assert (await guard.acheck("hello")).safe
    assert seen == [asyncio.current_task()]
    long_text = "word " * 5_000  # chunked: its requests still run concurrently, one task each
    chunked = LlamaGuard(Recording(), chunk_chars=4_000, chunk_overlap=100)
    seen.clear()
    assert (await chunked.acheck(long_text)).safe
    assert len(seen) > 1 and asyncio.current_task() not in seen


@given(st.lists(st.text(max_size=12), max_size=8))
def test_a_list_of_strings_reads_as_the_walk_reads_it(parts: list[str]) -> None:
    from llamashield._content import _Walker, judged_text

    walker = _Walker()
    walker.judge(parts, 0)
    assert judged_text(parts).text == "\n".join(t for t in walker.texts if t)
    assert judged_text(parts).media == ()
