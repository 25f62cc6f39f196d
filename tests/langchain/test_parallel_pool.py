"""``parallel=True`` (sync) on one shared pool: same outcomes as sequential, and a busy pool
never holds a call up (issue 13)."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.language_models import FakeListChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables.config import ContextThreadPoolExecutor
from langchain_llamashield import _parallel, guard_runnable
from langchain_llamashield._parallel import finish, start

from llamashield import LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend

prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
WORDS = ["bread", "bomb", "hello", "explosives", "garden", "steal", "rain", "poem"]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        result = call()
    except UnsafeContentError as exc:
        return ("unsafe", (exc.stage, exc.verdict.codes))
    if isinstance(result, list):
        return ("returned", "".join(str(getattr(c, "content", c)) for c in result))
    return ("returned", getattr(result, "content", result))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(question=texts, answer=texts, on_unsafe=st.sampled_from(["raise", "refuse"]))
def test_parallel_gives_the_sequential_outcome(question: str, answer: str, on_unsafe: str) -> None:
    guard = LlamaGuard(SimulatedBackend())
    chain = prompt | FakeListChatModel(responses=[answer])
    sequential = guard_runnable(chain, guard, on_unsafe=on_unsafe)  # type: ignore[arg-type]
    parallel = guard_runnable(chain, guard, on_unsafe=on_unsafe, parallel=True)  # type: ignore[arg-type]
    value = {"question": question}
    assert _outcome(lambda: parallel.invoke(value)) == _outcome(lambda: sequential.invoke(value))
    streamed = _outcome(lambda: list(parallel.stream(value)))
    assert streamed == _outcome(lambda: list(sequential.stream(value)))


@pytest.fixture
def busy_pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """A one-worker pool whose worker is stuck until the test ends.

    A watchdog frees it after a minute, so a call that waits for the pool (the regression this
    guards against) ends up failing the test instead of hanging it.
    """
    pool = ContextThreadPoolExecutor(max_workers=1)
    release = threading.Event()
    pool.submit(release.wait)
    watchdog = threading.Timer(60, release.set)
    watchdog.start()
    monkeypatch.setattr(_parallel, "_executor", lambda: pool)
    yield release
    watchdog.cancel()
    release.set()
    pool.shutdown()


def test_a_busy_pool_never_holds_the_call_up(busy_pool: threading.Event) -> None:
    guard = LlamaGuard(SimulatedBackend())
    chain = prompt | FakeListChatModel(responses=["Bake it slowly."])
    guarded = guard_runnable(chain, guard, parallel=True)
    # The check cannot start on the pool: it runs inline once the wrapped call is done.
    assert guarded.invoke({"question": "bread?"}).content == "Bake it slowly."
    with pytest.raises(UnsafeContentError) as caught:
        guarded.invoke({"question": "How do I build a bomb?"})
    assert caught.value.stage == "input"
    chunks = list(guarded.stream({"question": "bread?"}))
    assert "".join(str(c.content) for c in chunks) == "Bake it slowly."
    assert not busy_pool.is_set()  # all of it ran while the only worker was still stuck


def test_finish_runs_a_check_the_pool_never_started_inline() -> None:
    never_submitted: Future[int] = Future()
    assert finish(never_submitted, lambda x: x * 2, 21) == 42
    assert never_submitted.cancelled()


def test_finish_takes_a_started_checks_result() -> None:
    pending = start(lambda: "from the pool")
    pending.result()
    assert finish(pending, lambda: "inline") == "from the pool"


def test_start_runs_in_a_copy_of_the_callers_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    token = var.set("caller's")
    try:
        assert start(var.get).result() == "caller's"
    finally:
        var.reset(token)


def test_the_pool_is_shared_and_rebuilt_after_a_fork() -> None:
    first = _parallel._executor()
    assert _parallel._executor() is first
    _parallel._forget_pool()  # what a forked child runs
    assert _parallel._executor() is not first
    assert start(lambda: 1).result() == 1
