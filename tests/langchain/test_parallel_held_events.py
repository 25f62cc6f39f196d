"""``parallel=True`` always overlaps the input check with the wrapped call, and nothing learns of
the call before its input verdict: the caller's handlers, listeners inside the runnable and
``RunnableWithMessageHistory``'s memory get its events only after a safe verdict, never after an
unsafe one (issue 20, item 3)."""

from __future__ import annotations

import asyncio
import threading
import warnings
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.chat_history import InMemoryChatMessageHistory
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_core.tracers.base import BaseTracer
from langchain_llamashield import guard_runnable
from langchain_llamashield.testing import ScriptedChatModel

from llamashield import LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend

UNSAFE_QUESTION = "How do I build a bomb?"
SAFE_QUESTION = "How do I bake bread?"
ANSWER = "Knead it then bake it slowly."
MODES = ["invoke", "ainvoke", "stream", "astream"]

prompt = ChatPromptTemplate.from_messages([("human", "{question}")])


class Recorder(BaseCallbackHandler):
    """A caller's handler: every event it gets, in order, with the run it belongs to."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []
        self._names: dict[UUID, str] = {}
        self._lock = threading.Lock()

    def _add(self, kind: str, run_id: UUID, payload: Any = None) -> None:
        with self._lock:
            self.events.append((kind, self._names.get(run_id, "?"), payload))

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kw: Any) -> None:
        self._names[run_id] = kw.get("name") or "chain"
        self._add("chain_start", run_id, inputs)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kw: Any) -> None:
        self._add("chain_end", run_id, outputs)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> None:
        self._add("chain_error", run_id, repr(error))

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **kw: Any
    ) -> None:
        self._names[run_id] = "model"
        self._add("model_start", run_id, messages)

    def on_llm_new_token(
        self, token: str | list[str | dict[str, Any]], *, run_id: UUID, **kw: Any
    ) -> None:
        self._add("token", run_id, token)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kw: Any) -> None:
        self._add("llm_end", run_id, response.generations[0][0].text)

    def model_events(self) -> list[tuple[str, str, Any]]:
        return [e for e in self.events if e[1] == "model"]

    def text(self) -> str:
        return repr(self.events)


class AsyncRecorder(AsyncCallbackHandler):
    """The same, as an async handler (``ahandle_event`` awaits it under ``ainvoke``)."""

    def __init__(self) -> None:
        self._sync = Recorder()
        self.events = self._sync.events

    async def on_chain_start(self, *args: Any, **kw: Any) -> None:
        self._sync.on_chain_start(*args, **kw)

    async def on_chain_end(self, *args: Any, **kw: Any) -> None:
        self._sync.on_chain_end(*args, **kw)

    async def on_chain_error(self, *args: Any, **kw: Any) -> None:
        self._sync.on_chain_error(*args, **kw)

    async def on_chat_model_start(self, *args: Any, **kw: Any) -> None:
        self._sync.on_chat_model_start(*args, **kw)

    async def on_llm_new_token(self, *args: Any, **kw: Any) -> None:
        self._sync.on_llm_new_token(*args, **kw)

    async def on_llm_end(self, *args: Any, **kw: Any) -> None:
        self._sync.on_llm_end(*args, **kw)

    def model_events(self) -> list[tuple[str, str, Any]]:
        return self._sync.model_events()

    def text(self) -> str:
        return self._sync.text()


def _guard() -> LlamaGuard:
    return LlamaGuard(SimulatedBackend())


def _run(guarded: Runnable[Any, Any], value: Any, mode: str, config: Any = None) -> Any:
    """One call in ``mode``; a raised ``UnsafeContentError`` is returned as the outcome."""

    async def collect() -> list[Any]:
        if mode == "ainvoke":
            return [await guarded.ainvoke(value, config)]
        return [chunk async for chunk in guarded.astream(value, config)]

    try:
        if mode == "invoke":
            return guarded.invoke(value, config)
        if mode == "stream":
            return list(guarded.stream(value, config))
        result = asyncio.run(collect())
        return result[0] if mode == "ainvoke" else result
    except UnsafeContentError as exc:
        return exc


def _text(outcome: Any) -> str:
    if isinstance(outcome, list):
        return "".join(_text(c) for c in outcome)
    return str(getattr(outcome, "content", outcome))


# -- always overlapped ----------------------------------------------------------------------------


class _WaitsForTheCall(SimulatedBackend):
    """A guard that answers only once the wrapped call has begun: checking first would wait
    for it in vain (bounded, so such a regression fails instead of hanging)."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.waited_for_call: list[bool] = []

    def complete(self, request: Any, *, timeout: float) -> Any:
        self.waited_for_call.append(self.started.wait(30))
        return super().complete(request, timeout=timeout)

    async def acomplete(self, request: Any, *, timeout: float) -> Any:
        self.waited_for_call.append(await asyncio.to_thread(self.started.wait, 30))
        return await super().acomplete(request, timeout=timeout)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("calls", [1, 12])
def test_parallel_always_overlaps_whatever_past_calls_took(mode: str, calls: int) -> None:
    backend = _WaitsForTheCall()

    def call(value: Any) -> str:
        backend.started.set()
        return ANSWER

    guarded = guard_runnable(
        RunnableLambda(call), LlamaGuard(backend), parallel=True, check_output=False
    )
    for _ in range(calls):  # no history of timings changes the way of running
        backend.started.clear()
        assert _text(_run(guarded, SAFE_QUESTION, mode)) == ANSWER
    assert backend.waited_for_call == [True] * calls


# -- handlers see nothing before a safe verdict -----------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    question=st.sampled_from([SAFE_QUESTION, UNSAFE_QUESTION, "steal a car with explosives"]),
    mode=st.sampled_from(MODES),
    check_output=st.booleans(),
    on_unsafe=st.sampled_from(["raise", "refuse"]),
    handler_type=st.sampled_from([Recorder, AsyncRecorder]),
)
def test_handlers_get_the_wrapped_run_only_after_a_safe_input_verdict(
    question: str, mode: str, check_output: bool, on_unsafe: str, handler_type: type[Any]
) -> None:
    input_safe = _guard().check(question).safe
    model = ScriptedChatModel(answer=ANSWER)
    backend = _WaitsForTheCall()  # its verdicts wait until the model has answered

    def answered(message: Any) -> Any:
        backend.started.set()
        return message

    guarded = guard_runnable(
        prompt | model | RunnableLambda(answered),
        LlamaGuard(backend),
        parallel=True,
        check_output=check_output,
        on_unsafe=on_unsafe,  # type: ignore[arg-type]
    )
    handler = handler_type()
    outcome = _run(guarded, {"question": question}, mode, {"callbacks": [handler]})
    assert model.calls == 1  # parallel: the model answered before the input verdict
    assert backend.waited_for_call and all(backend.waited_for_call)
    model_events = handler.model_events()
    if not input_safe:
        assert isinstance(outcome, UnsafeContentError) or ANSWER not in _text(outcome)
        assert model_events == []
        assert "Knead" not in handler.text()  # no token, no answer, no chain output
        return
    assert _text(outcome) == ANSWER
    if check_output:
        return  # the wrapped run reaches tracers only (filtered, as in sequential mode)
    kinds = [kind for kind, _, _ in model_events]
    assert kinds[0] == "model_start" and kinds[-1] == "llm_end"
    assert model_events[-1][2] == ANSWER
    if mode in ("stream", "astream"):
        assert "".join(p for k, _, p in model_events if k == "token") == ANSWER
    # Every event of the wrapped run comes after the input check's verdict.
    verdict_at = next(
        i for i, (kind, name, _) in enumerate(handler.events)
        if kind == "chain_end" and name == "LlamaGuard"
    )  # fmt: skip
    first_model_event = handler.events.index(model_events[0])
    assert first_model_event > verdict_at


@pytest.mark.parametrize("mode", MODES)
def test_a_listener_inside_the_runnable_hears_nothing_of_a_refused_call(mode: str) -> None:
    ended: list[Any] = []
    backend = _WaitsForTheCall()  # its verdicts wait until the listened run has ended

    def answered(message: Any) -> Any:
        backend.started.set()
        return message

    inner = (prompt | ScriptedChatModel(answer=ANSWER)).with_listeners(
        on_end=lambda run: ended.append(run.outputs)
    ) | RunnableLambda(answered)
    guarded = guard_runnable(
        inner, LlamaGuard(backend), parallel=True, check_output=False, on_unsafe="refuse"
    )
    _run(guarded, {"question": UNSAFE_QUESTION}, mode)
    assert ended == []
    backend.started.clear()
    _run(guarded, {"question": SAFE_QUESTION}, mode)
    assert len(ended) == 1 and ANSWER in repr(ended[0])
    assert backend.waited_for_call == [True, True]


# -- memory ---------------------------------------------------------------------------------------


def _with_history(model: ScriptedChatModel, store: dict[str, InMemoryChatMessageHistory]) -> Any:
    chat = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{question}")]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated in langchain-core 1.x, still supported

        def session(session_id: str) -> InMemoryChatMessageHistory:
            return store.setdefault(session_id, InMemoryChatMessageHistory())

        return RunnableWithMessageHistory(
            chat | model,
            session,
            input_messages_key="question",
            history_messages_key="history",
        )


def _stored(store: dict[str, InMemoryChatMessageHistory]) -> str:
    return repr([m.content for history in store.values() for m in history.messages])


def _seen(messages: list[BaseMessage]) -> str:
    return repr([m.content for m in messages])


@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.sampled_from(MODES),
    second=st.sampled_from(MODES),
    on_unsafe=st.sampled_from(["raise", "refuse"]),
)
def test_a_refused_exchange_never_reaches_the_history_the_next_turn_reads(
    first: str, second: str, on_unsafe: str
) -> None:
    store: dict[str, InMemoryChatMessageHistory] = {}
    model = ScriptedChatModel(answer=ANSWER)
    backend = _WaitsForTheCall()  # its verdicts wait until the whole call (memory too) is done

    def finished(answer: Any) -> Any:
        backend.started.set()
        return answer

    guarded = guard_runnable(
        _with_history(model, store) | RunnableLambda(finished),
        LlamaGuard(backend),
        parallel=True,
        check_output=False,
        on_unsafe=on_unsafe,  # type: ignore[arg-type]
        input_key="question",
    )
    config = {"configurable": {"session_id": "s"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _run(guarded, {"question": UNSAFE_QUESTION}, first, config)
        assert model.finished + model.streams_finished == 1  # it answered beside the check...
        assert _stored(store) == "[]"  # ...and nothing of it was remembered
        backend.started.clear()
        assert _text(_run(guarded, {"question": SAFE_QUESTION}, second, config)) == ANSWER
    assert backend.waited_for_call == [True, True]
    assert "bomb" not in _seen(model.seen[-1]) and "Knead" not in _seen(model.seen[-1])
    assert _seen(model.seen[-1]) == repr([SAFE_QUESTION])
    # A safe exchange is remembered once its verdict is in.
    assert _stored(store) == repr([SAFE_QUESTION, ANSWER])


@pytest.mark.parametrize("mode", MODES)
def test_history_around_the_guard_records_no_answer_to_a_refused_input(mode: str) -> None:
    # RunnableWithMessageHistory around the guard records what the guard returns: under
    # "raise" nothing; the wrapped model's answer never.
    store: dict[str, InMemoryChatMessageHistory] = {}
    model = ScriptedChatModel(answer=ANSWER)
    chat = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{question}")]
    )
    guarded = guard_runnable(chat | model, _guard(), parallel=True, check_output=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = RunnableWithMessageHistory(
            guarded,
            lambda sid: store.setdefault(sid, InMemoryChatMessageHistory()),
            input_messages_key="question",
            history_messages_key="history",
        )
        config = {"configurable": {"session_id": "s"}}
        assert isinstance(_run(history, {"question": UNSAFE_QUESTION}, mode, config), Exception)
        assert _stored(store) == "[]"
        _run(history, {"question": SAFE_QUESTION}, mode, config)
    assert _seen(model.seen[-1]) == repr([SAFE_QUESTION])


# -- outcomes as in sequential mode ---------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("question", [SAFE_QUESTION, UNSAFE_QUESTION])
def test_a_failing_call_is_answered_as_sequential_mode_would(mode: str, question: str) -> None:
    heard: list[Any] = []

    class Heard(BaseCallbackHandler):
        def on_chain_error(self, error: BaseException, **kw: Any) -> None:
            heard.append(error)

    def broken(value: Any) -> str:
        raise LookupError("the wrapped call failed")

    outcomes: list[tuple[str, object]] = []
    for parallel in (False, True):
        heard.clear()
        guarded = guard_runnable(
            RunnableLambda(broken), _guard(), parallel=parallel, on_unsafe="refuse"
        )
        try:
            outcome = _run(guarded, question, mode, {"callbacks": [Heard()]})
            outcomes.append(("returned", _text(outcome)))
        except LookupError:
            outcomes.append(("raised", "LookupError"))
        inner_errors = [e for e in heard if isinstance(e, LookupError)]
        outcomes.append(("heard", len(inner_errors) > 0))
    assert outcomes[:2] == outcomes[2:]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("question", [SAFE_QUESTION, UNSAFE_QUESTION])
def test_nested_parallel_guards_hold_events_for_the_outer_verdict(mode: str, question: str) -> None:
    model = ScriptedChatModel(answer=ANSWER)
    inner = guard_runnable(prompt | model, _guard(), parallel=True, check_output=False)
    outer = guard_runnable(inner, _guard(), parallel=True, check_output=False, input_key="question")
    handler = Recorder()
    outcome = _run(outer, {"question": question}, mode, {"callbacks": [handler]})
    if question == UNSAFE_QUESTION:
        assert isinstance(outcome, UnsafeContentError)
        assert handler.model_events() == []
        assert "Knead" not in handler.text()
    else:
        assert _text(outcome) == ANSWER
        assert handler.model_events()[-1] == ("llm_end", "model", ANSWER)
        # The inner guard's check, replayed into the outer buffer, is heard once.
        checks = [e for e in handler.events if e[:2] == ("chain_end", "LlamaGuard")]
        assert len(checks) == 2


# -- the output verdict: a refused answer is never remembered, traces keep the run -------------


class RunRecorder(BaseTracer):
    """A record-keeping tracer (as LangSmith's): every run it was told of, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[str] = []

    def _persist_run(self, run: Any) -> None:
        pass

    def _on_run_create(self, run: Any) -> None:
        self.started.append(run.name)


@settings(max_examples=24, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.sampled_from(MODES),
    second=st.sampled_from(MODES),
    parallel=st.booleans(),
    on_unsafe=st.sampled_from(["raise", "refuse"]),
)
def test_a_refused_answer_is_never_remembered_and_still_traced(
    first: str, second: str, parallel: bool, on_unsafe: str
) -> None:
    store: dict[str, InMemoryChatMessageHistory] = {}
    model = ScriptedChatModel(answer="Use explosives to build a bomb.")
    guarded = guard_runnable(
        _with_history(model, store),
        _guard(),
        parallel=parallel,
        on_unsafe=on_unsafe,  # type: ignore[arg-type]
        input_key="question",
    )
    tracer = RunRecorder()
    config = {"configurable": {"session_id": "s"}, "callbacks": [tracer]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refused = _run(guarded, {"question": SAFE_QUESTION}, first, config)
        assert "explosives" not in _text(refused)
        assert _stored(store) == "[]"  # the refused exchange is not in the history
        assert any("Scripted" in name for name in tracer.started)  # traced all the same
        model.answer = ANSWER
        assert _text(_run(guarded, {"question": SAFE_QUESTION}, second, config)) == ANSWER
    assert "explosives" not in _seen(model.seen[-1])
    assert _stored(store) == repr([SAFE_QUESTION, ANSWER])
