"""Runs nobody watches are skipped (issue 13), and skipping them changes nothing else.

A guarded runnable with no handler anywhere (config, context, environment, hooks) calls its
guard directly instead of making LangChain runs; with any handler it makes them as before.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import FakeListChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_core.tracers.context import collect_runs
from langchain_llamashield import LlamaGuardRunnable, guard_runnable
from langchain_llamashield._stream import TracedCheck
from langchain_llamashield._watch import observed, unwatched, unwatched_run

from llamashield import LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend

prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
WORDS = ["bread", "bomb", "hello", "explosives", "garden", "steal", "rain", "poem", ""]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)


class Starts(BaseCallbackHandler):
    """Records the name of every chain run that starts."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, name: str | None = None, **kw: Any
    ) -> None:
        self.names.append(name or "")


def _guard() -> LlamaGuard:
    return LlamaGuard(SimulatedBackend())


def _raised(exc: Exception) -> tuple[str, Any]:
    if isinstance(exc, UnsafeContentError):
        return ("unsafe", (exc.stage, exc.verdict.codes))
    return ("raised", (type(exc), str(exc)))


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        result = call()
    except Exception as exc:  # bad input (an empty question) must fail the same way too
        return _raised(exc)
    return ("returned", getattr(result, "content", result))


@pytest.fixture
def no_traced_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if any check makes a LangChain run."""

    def refuse(self: TracedCheck) -> Any:
        raise AssertionError("a check made a run that nobody watches")

    monkeypatch.setattr(TracedCheck, "_traced", refuse)


# -- the same outcome, watched or not ------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(question=texts, answer=texts, on_unsafe=st.sampled_from(["raise", "refuse"]))
def test_guard_runnable_outcome_does_not_depend_on_being_watched(
    question: str, answer: str, on_unsafe: str
) -> None:
    chain = prompt | FakeListChatModel(responses=[answer or "ok"])
    guarded = guard_runnable(chain, _guard(), on_unsafe=on_unsafe)  # type: ignore[arg-type]
    alone = _outcome(lambda: guarded.invoke({"question": question}))
    watcher = Starts()
    watched = _outcome(lambda: guarded.invoke({"question": question}, {"callbacks": [watcher]}))
    assert alone == watched
    if question.strip():
        assert "LlamaGuard" in watcher.names  # the watched call made its input check's run


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, role=st.sampled_from(["user", "agent"]), parallel=st.booleans())
def test_async_outcome_does_not_depend_on_being_watched(
    text: str, role: str, parallel: bool
) -> None:
    guard = _guard()
    step = LlamaGuardRunnable(guard, role=role)  # type: ignore[arg-type]
    chain = prompt | FakeListChatModel(responses=[text or "ok"])
    guarded = guard_runnable(chain, guard, parallel=parallel)

    async def both(runnable: Any, value: Any) -> tuple[Any, Any]:
        async def outcome(config: Any) -> tuple[str, Any]:
            try:
                result = await runnable.ainvoke(value, config)
            except Exception as exc:
                return _raised(exc)
            return ("returned", getattr(result, "content", result))

        return await outcome(None), await outcome({"callbacks": [Starts()]})

    for runnable, value in ((step, text), (guarded, {"question": text})):
        alone, watched = asyncio.run(both(runnable, value))
        assert alone == watched


# -- unwatched: no runs at all -------------------------------------------------------------------


@pytest.mark.usefixtures("no_traced_checks")
def test_an_unwatched_call_makes_no_check_runs() -> None:
    chain = prompt | FakeListChatModel(responses=["Bake it slowly."])
    guarded = guard_runnable(chain, _guard())
    assert guarded.invoke({"question": "How do I bake bread?"}).content == "Bake it slowly."
    assert LlamaGuardRunnable(_guard()).invoke("hello") == "hello"
    with pytest.raises(UnsafeContentError):
        guarded.invoke({"question": "How do I build a bomb?"})


@pytest.mark.usefixtures("no_traced_checks")
async def test_an_unwatched_async_call_makes_no_check_runs() -> None:
    chain = prompt | FakeListChatModel(responses=["Bake it slowly."])
    for parallel in (False, True):
        guarded = guard_runnable(chain, _guard(), parallel=parallel)
        answer = await guarded.ainvoke({"question": "How do I bake bread?"})
        assert answer.content == "Bake it slowly."
    assert await LlamaGuardRunnable(_guard()).ainvoke("hello") == "hello"


# -- watched from anywhere: every run is made ----------------------------------------------------


def test_a_handler_in_the_config_sees_the_guard_and_its_checks() -> None:
    watcher = Starts()
    chain = prompt | FakeListChatModel(responses=["Bake it slowly."])
    guarded = guard_runnable(chain, _guard())
    guarded.invoke({"question": "bread?"}, {"callbacks": [watcher]})
    # The output check (like the wrapped chain) reaches tracers only: a handler sees the input's.
    assert watcher.names == ["GuardedRunnableSequence", "LlamaGuard"]
    with collect_runs() as collected:
        guarded.invoke({"question": "bread?"})
    (run,) = collected.traced_runs
    assert [child.name for child in run.child_runs] == [
        "LlamaGuard",
        "RunnableSequence",
        "LlamaGuard",
    ]


def test_a_collector_in_the_context_sees_the_checks() -> None:
    # collect_runs adds its handler through a configure hook, to every run and not by
    # inheritance: a child manager looks empty, yet the check runs are collected.
    with collect_runs() as collected:
        LlamaGuardRunnable(_guard()).invoke("hello")
    (run,) = collected.traced_runs
    assert [child.name for child in run.child_runs] == ["LlamaGuard"]


def test_the_ambient_config_of_an_enclosing_chain_counts_as_watching() -> None:
    watcher = Starts()
    guarded = LlamaGuardRunnable(_guard())
    outer = RunnableLambda(lambda text: guarded.invoke(text))  # no config passed on
    assert outer.invoke("hello", {"callbacks": [watcher]}) == "hello"
    assert "LlamaGuardRunnable" in watcher.names and "LlamaGuard" in watcher.names


def test_observed_and_unwatched() -> None:
    assert unwatched({}) and not observed({})
    assert not observed({"callbacks": unwatched_run().get_child()})
    assert observed({"callbacks": [Starts()]})
    assert not unwatched({"callbacks": [Starts()]})
    with collect_runs():
        assert observed({}) and not unwatched({})
