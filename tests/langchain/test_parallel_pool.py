"""``parallel=True`` (sync) on the plan drivers' one shared pool (``Start``/``Await``): same
outcomes as sequential, and a busy pool never holds a call up (issue 13)."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.language_models import FakeListChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables.config import ContextThreadPoolExecutor
from langchain_llamashield import guard_runnable

from llamashield import LlamaGuard, UnsafeContentError, _plan
from llamashield.backends import SimulatedBackend
from llamashield.integration import Await, Call, Plan, Start, run_plan

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
    monkeypatch.setattr(_plan, "_executor", lambda: pool)
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


def _started(fn: Any) -> Plan[Any]:
    pending = yield Start(Call(fn))
    return (yield Await(pending))


def test_await_runs_a_step_the_pool_never_started_inline(busy_pool: threading.Event) -> None:
    thread = run_plan(_started(threading.get_ident), LlamaGuard(SimulatedBackend()))
    assert thread == threading.get_ident()  # taken back from the stuck pool, run here
    assert not busy_pool.is_set()


def test_await_takes_a_started_steps_result_from_the_pool() -> None:
    began = threading.Event()

    def step() -> int:
        began.set()
        return threading.get_ident()

    def plan() -> Plan[int]:
        pending = yield Start(Call(step))
        yield Call(began.wait, None, (30,))  # the pool has it: Await waits for its result
        thread: int = yield Await(pending)
        return thread

    assert run_plan(plan(), LlamaGuard(SimulatedBackend())) != threading.get_ident()


def test_start_runs_in_a_copy_of_the_callers_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    token = var.set("caller's")
    try:
        assert run_plan(_started(var.get), LlamaGuard(SimulatedBackend())) == "caller's"
    finally:
        var.reset(token)


def test_the_pool_is_shared_and_rebuilt_after_a_fork() -> None:
    first = _plan._executor()
    assert _plan._executor() is first
    _plan._forget_pool()  # what a forked child runs
    assert _plan._executor() is not first
    assert run_plan(_started(lambda: 1), LlamaGuard(SimulatedBackend())) == 1
