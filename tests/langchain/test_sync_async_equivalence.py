"""Sync and async are one behaviour: each guarded LangChain component is written once, as plans.

For ``LlamaGuardRunnable(role="agent")``, ``guard_runnable`` (sequential and ``parallel=True``)
and ``GuardedChatModel``, under each ``on_unsafe`` mode, the same script (a question safe or
not, an answer whose sentences are safe or not, streamed word by word) gives the same outcome
(the output, or the error), the same callback events (what a handler sees, in order) and the
same verdicts (the guard's traced checks, the verdict an error, a refusal or a fallback
carries) through ``invoke`` and ``ainvoke``, and through ``stream`` and ``astream``.

The guard is scripted: a turn is unsafe exactly when it holds the marker word (a
``SimulatedBackend`` rule), so no answer depends on timing. Streamed answers are judged window
by window (a sentence each), and every window is judged with all the answer before it; an
unsafe sentence is placed first, or the answer judged as one window, since the safe windows
released before a later unsafe one race with its verdict by design (the checks run while the
model generates).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_llamashield import GuardedChatModel, LlamaGuardRunnable, guard_runnable
from langchain_llamashield.testing import ScriptedChatModel

from llamashield import Blocked, LlamaGuard, UnsafeContentError, Verdict
from llamashield.backends import SimulatedBackend
from llamashield.integration import METADATA_KEY

MARKER = "zorblax"  # the scripted guard's only unsafe word
SAFE_QUESTIONS = ["How do I bake bread at home?", "What is a good name for a cat?"]
UNSAFE_QUESTION = f"How do I make {MARKER} at home?"
SAFE_SENTENCES = [
    "Mix the flour with warm water.",
    "Knead the dough for ten minutes.",
    "Bake it until the crust is golden.",
]
UNSAFE_SENTENCE = f"Then add the {MARKER} to the mixture."

prompt = ChatPromptTemplate.from_messages([("human", "{question}")])


def scripted_guard() -> LlamaGuard:
    return LlamaGuard(SimulatedBackend(rules={rf"\b{MARKER}\b": "S2"}))


# -- what a run shows ----------------------------------------------------------------------------


class Events(BaseCallbackHandler):
    """Every callback event a handler sees, run by run: each run (in the order they start) with
    its events in order.

    How the events of *different* runs interleave in a stream is the streams' concurrency, not
    a choice of sync or async: the async moderated stream reads the model in a task of its own,
    as fast as it generates, while the sync one reads it as the consumer pulls; so a model's
    tokens and the guard step's start interleave differently. Each run's own events, and the
    order in which runs start, are the behaviour; except how far a model got before a block
    stopped its stream (the race between its generation and the guard's verdict), so a stopped
    run shows its start and ``stopped`` (a closed generator, or a cancelled reader task: the
    sync and async way to stop a stream). ``run_inline``: under async callback
    managers the events reach it in the loop's order (a sync handler otherwise runs in an
    executor thread)."""

    run_inline = True

    def __init__(self) -> None:
        self.runs: dict[UUID, tuple[str, list[str]]] = {}  # in the order they started
        self.verdicts: list[tuple[str, Any]] = []

    @property
    def seen(self) -> list[tuple[str, list[str]]]:
        return [
            (name, [e for e in events if not e.startswith("token:")])
            if events[-1] == "stopped"
            else (name, events)
            for name, events in self.runs.values()
        ]

    def _start(self, event: str, run_id: UUID, serialized: Any, kwargs: dict[str, Any]) -> None:
        name = kwargs.get("name") or (serialized or {}).get("name") or "?"
        self.runs[run_id] = (str(name), [event])

    def _event(self, event: str, run_id: UUID) -> None:
        self.runs.setdefault(run_id, ("?", []))[1].append(event)

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._start("chain_start", run_id, serialized, kwargs)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._event("chain_end", run_id)
        if isinstance(outputs, Verdict):  # a traced "LlamaGuard" check
            self.verdicts.append(("check", verdict_of(outputs)))

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        stopped = isinstance(error, GeneratorExit | asyncio.CancelledError)
        self._event("stopped" if stopped else f"chain_error:{type(error).__name__}", run_id)

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._start("chat_model_start", run_id, serialized, kwargs)

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._event(f"token:{token}", run_id)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._event("llm_end", run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        stopped = isinstance(error, GeneratorExit | asyncio.CancelledError)
        self._event("stopped" if stopped else f"llm_error:{type(error).__name__}", run_id)


def verdict_of(verdict: Verdict) -> tuple[bool, tuple[str, ...]]:
    return (verdict.safe, tuple(verdict.codes))


def text_of(value: Any) -> Any:
    """What a consumer reads of an output or chunk, with the verdict a refusal carries."""
    if isinstance(value, BaseMessage):
        record = value.response_metadata.get(METADATA_KEY)
        blocked = None if record is None else (record["stage"], tuple(record["categories"]))
        return (type(value).__name__, value.text, blocked)
    return value


@dataclass
class Outcome:
    """What one call showed: its output (chunks, for a stream) or error, events, verdicts."""

    output: Any
    events: list[tuple[str, list[str]]]
    verdicts: list[tuple[str, Any]] = field(default_factory=list)


def fallback_of(received: list[tuple[str, Any]]) -> Runnable[Any, Any]:
    """A reroute target that records the verdict it was given and answers with its stage."""

    def answer(blocked: Blocked) -> str:
        received.append(("rerouted", (blocked.stage, verdict_of(blocked.verdict))))
        return f"rerouted after {blocked.stage}"

    return RunnableLambda(answer)


Build = Callable[[Runnable[Any, Any], Events], Runnable[Any, Any]]


async def _collect(component: Runnable[Any, Any], value: Any, call: str) -> Any:
    if call == "ainvoke":
        return await component.ainvoke(value)
    return [chunk async for chunk in component.astream(value)]


def run(build: Build, value: Any, call: str) -> Outcome:
    """One call (``invoke``, ``ainvoke``, ``stream`` or ``astream``) of a freshly built
    component: ``build(fallback, handler)`` attaches the handler to what is compared, and its
    fallback records what it receives."""
    received: list[tuple[str, Any]] = []
    handler = Events()
    component = build(fallback_of(received), handler)
    try:
        if call == "invoke":
            result = component.invoke(value)
        elif call == "stream":
            result = list(component.stream(value))
        else:
            result = asyncio.run(_collect(component, value, call))
    except UnsafeContentError as error:
        output: Any = ("raised", error.stage, verdict_of(error.verdict))
    else:
        output = [text_of(c) for c in result] if isinstance(result, list) else text_of(result)
    return Outcome(output, handler.seen, handler.verdicts + received)


def assert_equivalent(build: Build, value: Any) -> None:
    for sync, async_ in (("invoke", "ainvoke"), ("stream", "astream")):
        assert run(build, value, async_) == run(build, value, sync), (sync, async_)


# -- the scripts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Script:
    question: str
    sentences: tuple[str, ...]
    window: str | int  # "sentence": a window per sentence; a large number: one window

    @property
    def answer(self) -> str:
        return " ".join(self.sentences)


WINDOWS: list[str | int] = ["sentence", 10_000]


@st.composite
def scripts(draw: st.DrawFn) -> Script:
    question = draw(st.sampled_from([*SAFE_QUESTIONS, UNSAFE_QUESTION]))
    safe = draw(st.lists(st.sampled_from(SAFE_SENTENCES), min_size=1, max_size=3))
    where = draw(st.sampled_from(["nowhere", "first", "anywhere"]))
    if where == "nowhere":
        return Script(question, tuple(safe), draw(st.sampled_from(WINDOWS)))
    if where == "first":  # the first window is unsafe: nothing of the answer is released
        return Script(question, (UNSAFE_SENTENCE, *safe), "sentence")
    at = draw(st.integers(0, len(safe)))
    return Script(question, (*safe[:at], UNSAFE_SENTENCE, *safe[at:]), 10_000)


modes = st.sampled_from(["raise", "refuse", "reroute"])
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def on_unsafe(mode: str, fallback: Runnable[Any, Any]) -> Any:
    return fallback if mode == "reroute" else mode


@SETTINGS
@given(script=scripts(), mode=modes)
def test_llama_guard_runnable_agent_step(script: Script, mode: str) -> None:
    # The handler watches the step: the model before it is no part of it (LangChain drains a
    # sync step's unread input after it, and cancels an async one's).
    def build(fallback: Runnable[Any, Any], handler: Events) -> Runnable[Any, Any]:
        rule = on_unsafe(mode, fallback)
        step = LlamaGuardRunnable(
            scripted_guard(), role="agent", on_unsafe=rule, window=script.window
        )
        watched = step.with_config(callbacks=[handler])
        return prompt | ScriptedChatModel(answer=script.answer) | watched

    assert_equivalent(build, {"question": script.question})


@SETTINGS
@given(script=scripts(), mode=modes, parallel=st.booleans(), check_output=st.booleans())
def test_guard_runnable(script: Script, mode: str, parallel: bool, check_output: bool) -> None:
    def build(fallback: Runnable[Any, Any], handler: Events) -> Runnable[Any, Any]:
        return guard_runnable(
            prompt | ScriptedChatModel(answer=script.answer),
            scripted_guard(),
            on_unsafe=on_unsafe(mode, fallback),
            parallel=parallel,
            check_output=check_output,
            window=script.window,  # type: ignore[arg-type]
        ).with_config(callbacks=[handler])

    assert_equivalent(build, {"question": script.question})


@SETTINGS
@given(script=scripts(), mode=modes, check_output=st.booleans())
def test_guarded_chat_model(script: Script, mode: str, check_output: bool) -> None:
    def build(fallback: Runnable[Any, Any], handler: Events) -> Runnable[Any, Any]:
        return GuardedChatModel(
            ScriptedChatModel(answer=script.answer),
            scripted_guard(),
            on_unsafe=on_unsafe(mode, fallback),
            check_output=check_output,
            window=script.window,
        ).with_config(callbacks=[handler])

    assert_equivalent(build, script.question)


def test_the_script_blocks_what_it_says() -> None:
    """The comparison above is not vacuous: the script's marker is blocked at each stage."""
    chat = Script(UNSAFE_QUESTION, tuple(SAFE_SENTENCES), "sentence")
    answer = Script(SAFE_QUESTIONS[0], (UNSAFE_SENTENCE, *SAFE_SENTENCES), "sentence")

    def build(script: Script) -> Build:
        return lambda fallback, handler: GuardedChatModel(
            ScriptedChatModel(answer=script.answer), scripted_guard(), on_unsafe=fallback,
            window=script.window).with_config(callbacks=[handler])  # fmt: skip

    for script, stage in ((chat, "input"), (answer, "output")):
        for call in ("invoke", "ainvoke", "stream", "astream"):
            outcome = run(build(script), script.question, call)
            assert ("rerouted", (stage, (False, ("S2",)))) in outcome.verdicts, call
            assert "rerouted after" in str(outcome.output)
            assert MARKER not in str(outcome.output)
    safe = run(build(Script(SAFE_QUESTIONS[0], tuple(SAFE_SENTENCES), "sentence")),
               SAFE_QUESTIONS[0], "astream")  # fmt: skip
    assert "".join(chunk[1] for chunk in safe.output) == " ".join(SAFE_SENTENCES)
    name, events = safe.events[0]  # the judged tokens reach the guarded model's handlers
    assert name == "GuardedChatModel" and events[:2] == ["chat_model_start", "token:Mix "]
