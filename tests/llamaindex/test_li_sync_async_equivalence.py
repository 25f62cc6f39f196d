"""Sync/async equivalence as a property (issue 21): one plan per guarded behaviour, so the same
script of guard answers and model tokens decides the same through every method.

For ``GuardedQueryEngine`` (``query``/``aquery``, streaming or not), ``GuardedChatEngine``
(``chat``/``achat``/``stream_chat``/``astream_chat``) and ``guard_tool`` (``call``/``acall``),
under each ``on_unsafe`` mode, a script (the question or arguments, the model's tokens, which
of them the guard finds unsafe) is run through every method with a fresh guard and fresh fakes:

- the sync and async methods of one kind give the same outputs, verdict records, memory and
  LlamaIndex instrumentation events;
- streaming and non-streaming methods make the same decision: a safe answer streams whole; an
  unsafe one raises at the same stage, or ends with the same refusal, having released only
  text judged safe (how much depends on when the window checks return, so only that it is a
  clean prefix of the answer is asserted).

The guard is the simulated backend with one rule: a turn containing ``zorp`` is unsafe (S9).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.llms.generic_utils import (
    completion_response_to_chat_response,
    stream_completion_response_to_chat_response,
)
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, ChatResponseAsyncGen
from llama_index.core.base.response.schema import (
    RESPONSE_TYPE,
    AsyncStreamingResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.bridge.pydantic import Field
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.chat_engine.types import AgentChatResponse
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.llms import CompletionResponse, CompletionResponseGen, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_chat_callback
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.schema import QueryBundle
from llama_index.core.tools import FunctionTool, ToolOutput
from llama_index.llamashield import GuardedChatEngine, GuardedQueryEngine, guard_tool
from llama_index_instrumentation import get_dispatcher

from llamashield import Blocked, LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend
from llamashield.integration import DEFAULT_REFUSAL, METADATA_KEY
from llamashield.streaming import WindowSpec

MARKER = "zorp"  # the one word the guard finds unsafe
SAFE_WORDS = ["Paris", "is", "lovely.", "The", "tower", "stands", "tall.", "Bread", "helps."]
FALLBACK = "A fallback answered."
WINDOWS: list[WindowSpec] = [1, 12, "sentence", 10_000]  # 10_000: the whole answer is one window

# Per-token events: how many the inner model produces before a block stops it depends on when
# the window checks return, in either flavour.
PER_TOKEN_EVENTS = ("InProgressEvent", "DeltaReceivedEvent")


def _guard() -> LlamaGuard:
    return LlamaGuard(SimulatedBackend(rules={rf"\b{MARKER}\b": "S9"}))


def _tokens(words: list[str]) -> list[str]:
    return [word if i == 0 else " " + word for i, word in enumerate(words)]


@dataclass(frozen=True)
class Script:
    question: str
    tokens: list[str]
    on_unsafe: str  # raise | refuse | reroute-callable | reroute-engine
    window: WindowSpec

    @property
    def answer(self) -> str:
        return "".join(self.tokens)


words = st.lists(st.sampled_from([*SAFE_WORDS, MARKER]), min_size=1, max_size=10)
scripts = st.builds(
    Script,
    question=st.sampled_from(["Tell me about Paris.", f"Tell me about {MARKER}."]),
    tokens=words.map(_tokens),
    on_unsafe=st.sampled_from(["raise", "refuse", "reroute-callable", "reroute-engine"]),
    window=st.sampled_from(WINDOWS),
)


# -- what a run gives -----------------------------------------------------------------------


@dataclass
class Outcome:
    """What one method gave: its items (one for non-streaming answers), the error's stage if
    it raised, the verdict records, the memory afterwards, and the instrumentation events."""

    items: list[str] = field(default_factory=list)
    raised: str | None = None
    records: Any = None
    memory: list[str] | None = None
    events: Counter[str] = field(default_factory=Counter)

    @property
    def text(self) -> str:
        return "".join(self.items)


class _Events(BaseEventHandler):
    names: list[str] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "RecordingEvents"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.names.append(event.class_name())


def _observed(run: Callable[[Outcome], None]) -> Outcome:
    """Run with the instrumentation dispatcher recorded; an ``UnsafeContentError`` is part of
    the outcome."""
    outcome = Outcome()
    handler = _Events()
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    try:
        run(outcome)
    except UnsafeContentError as error:
        outcome.raised = error.stage
    finally:
        dispatcher.event_handlers.remove(handler)
    outcome.events = Counter(n for n in handler.names if not n.endswith(PER_TOKEN_EVENTS))
    return outcome


def _reroute(script: Script, engine: Any) -> Any:
    if script.on_unsafe == "reroute-callable":
        return lambda blocked: f"{FALLBACK} ({blocked.stage})"
    if script.on_unsafe == "reroute-engine":
        return engine
    return script.on_unsafe


def _refusal(records: dict[str, Any], stage: str) -> str:
    return DEFAULT_REFUSAL.format(categories=", ".join(records[stage]["category_names"]))


def _assert_same_decision(plain: Outcome, streamed: Outcome, script: Script) -> None:
    """A stream decides as the plain call: the same error stage and memory; the same answer
    when the question was blocked (no stream opened) or nothing was unsafe; and when the answer
    was blocked, only judged text (a clean prefix of the answer) before the refusal."""
    assert streamed.raised == plain.raised
    assert streamed.memory == plain.memory
    if MARKER in script.question or MARKER not in script.answer:
        assert streamed.text == plain.text
        return
    released = "".join(streamed.items if streamed.raised else streamed.items[:-1])
    assert script.answer.startswith(released)
    assert MARKER not in released


# -- GuardedQueryEngine ---------------------------------------------------------------------


class ScriptedQueryEngine(BaseQueryEngine):
    """Answers every question with the script's tokens, streamed (sync or async) or whole."""

    def __init__(self, tokens: list[str], streaming: bool = False) -> None:
        super().__init__(None)
        self.tokens = tokens
        self.streaming = streaming

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}

    def _query(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        if self.streaming:
            return StreamingResponse(iter(self.tokens))  # type: ignore[arg-type]
        return Response("".join(self.tokens))

    async def _aquery(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        if self.streaming:
            return AsyncStreamingResponse(_agen(self.tokens))
        return Response("".join(self.tokens))


async def _agen(tokens: list[str]) -> AsyncGenerator[str, None]:
    for token in tokens:
        yield token


def _query_outcome(script: Script, method: str, streaming: bool) -> Outcome:
    fallback = ScriptedQueryEngine([FALLBACK])
    engine = GuardedQueryEngine(
        ScriptedQueryEngine(script.tokens, streaming), _guard(),
        on_unsafe=_reroute(script, fallback), window=script.window,
    )  # fmt: skip

    def run(outcome: Outcome) -> None:
        if method == "query":
            response = engine.query(script.question)
            outcome.records = (response.metadata or {}).get(METADATA_KEY)
            if isinstance(response, StreamingResponse):
                for token in response.response_gen:
                    outcome.items.append(token)
            else:
                outcome.items.append(str(response))
            outcome.records = (response.metadata or {})[METADATA_KEY]
            return

        async def arun() -> None:
            response = await engine.aquery(script.question)
            outcome.records = (response.metadata or {}).get(METADATA_KEY)
            if isinstance(response, AsyncStreamingResponse):
                async for token in response.async_response_gen():
                    outcome.items.append(token)
            else:
                outcome.items.append(str(response))
            outcome.records = (response.metadata or {})[METADATA_KEY]

        asyncio.run(arun())

    return _observed(run)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=scripts)
def test_query_engine_decides_alike_through_every_method(script: Script) -> None:
    plain = _query_outcome(script, "query", streaming=False)
    assert _query_outcome(script, "aquery", streaming=False) == plain
    streamed = _query_outcome(script, "query", streaming=True)
    astreamed = _query_outcome(script, "aquery", streaming=True)
    assert astreamed.raised == streamed.raised
    assert astreamed.events == streamed.events
    for outcome in (streamed, astreamed):
        _assert_same_decision(plain, outcome, script)
        if outcome.raised is None:
            # The same records: a stream's blocking window judged the answer up to it (one
            # unsafe word: the same categories), the plain call the whole answer.
            assert outcome.records == plain.records
    # What the script says happened, happened.
    unsafe_question = MARKER in script.question
    if unsafe_question:
        assert plain.records is None or not plain.records["input"]["safe"]
        assert plain.raised == ("input" if script.on_unsafe == "raise" else None)
    elif MARKER in script.answer:
        assert plain.raised == ("output" if script.on_unsafe == "raise" else None)
        if script.on_unsafe != "raise":
            refusal = _refusal(plain.records, "output")
            assert streamed.items[-1] == astreamed.items[-1] == refusal
    else:
        assert plain.text == streamed.text == astreamed.text == script.answer
        assert plain.records is not None and plain.records["output"]["safe"]


# -- GuardedChatEngine ----------------------------------------------------------------------


class ScriptedLLM(CustomLLM):
    """Answers every prompt with the script's tokens, streamed or whole. Its async chat methods
    are its own: ``CustomLLM``'s call the sync ones, which reports every call twice."""

    tokens: list[str] = Field(default_factory=list)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata()

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text="".join(self.tokens))

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        def gen() -> CompletionResponseGen:
            text = ""
            for token in self.tokens:
                text += token
                yield CompletionResponse(text=text, delta=token)

        return gen()

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return completion_response_to_chat_response(self.complete(_prompt(messages)))

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        chunks = stream_completion_response_to_chat_response(
            self.stream_complete(_prompt(messages))
        )

        async def gen() -> ChatResponseAsyncGen:
            for chunk in chunks:
                yield chunk

        return gen()


def _prompt(messages: Sequence[ChatMessage]) -> str:
    return "\n".join(str(message.content) for message in messages)


def _chat_engine(tokens: list[str]) -> SimpleChatEngine:
    memory = ChatMemoryBuffer.from_defaults(token_limit=100_000)
    return SimpleChatEngine.from_defaults(llm=ScriptedLLM(tokens=tokens), memory=memory)


def _chat_outcome(script: Script, method: str) -> Outcome:
    inner = _chat_engine(script.tokens)
    chat = GuardedChatEngine(
        inner, _guard(), on_unsafe=_reroute(script, _chat_engine([FALLBACK])),
        window=script.window,
    )  # fmt: skip

    def run(outcome: Outcome) -> None:
        try:
            if method == "chat":
                response = chat.chat(script.question)
                assert isinstance(response, AgentChatResponse)
                outcome.items.append(response.response)
                outcome.records = (response.metadata or {})[METADATA_KEY]
            elif method == "stream_chat":
                for token in chat.stream_chat(script.question).response_gen:
                    outcome.items.append(token)
            else:
                asyncio.run(_achat(chat, script.question, method, outcome))
        finally:
            outcome.memory = [str(m.content) for m in chat.chat_history]

    return _observed(run)


async def _achat(chat: GuardedChatEngine, question: str, method: str, outcome: Outcome) -> None:
    if method == "achat":
        response = await chat.achat(question)
        assert isinstance(response, AgentChatResponse)
        outcome.items.append(response.response)
        outcome.records = (response.metadata or {})[METADATA_KEY]
        return
    streamed = await chat.astream_chat(question)
    async for token in streamed.async_response_gen():
        outcome.items.append(token)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=scripts)
def test_chat_engine_decides_alike_through_every_method(script: Script) -> None:
    plain = _chat_outcome(script, "chat")
    assert _chat_outcome(script, "achat") == plain
    streamed = _chat_outcome(script, "stream_chat")
    astreamed = _chat_outcome(script, "astream_chat")
    assert astreamed.raised == streamed.raised
    assert astreamed.memory == streamed.memory
    assert astreamed.events == streamed.events
    for outcome in (streamed, astreamed):
        _assert_same_decision(plain, outcome, script)
    blocked = MARKER in script.question or MARKER in script.answer
    # A blocked turn leaves the memory as it was; a safe one remembers the exchange.
    assert plain.memory == ([] if blocked else [script.question, script.answer])
    if not blocked:
        assert plain.text == streamed.text == astreamed.text == script.answer


# -- guard_tool -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolScript:
    argument: str
    tokens: list[str]
    on_unsafe: str  # raise | refuse | reroute

    @property
    def answer(self) -> str:
        return "".join(self.tokens)


tool_scripts = st.builds(
    ToolScript,
    argument=st.sampled_from(["Paris", f"{MARKER} recipes"]),
    tokens=words.map(_tokens),
    on_unsafe=st.sampled_from(["raise", "refuse", "reroute"]),
)


def _tool_outcome(script: ToolScript, method: str) -> Outcome:
    calls: list[str] = []

    def search(query: str) -> str:
        """Search the web."""
        calls.append(query)
        return "".join(script.tokens)

    def fallback(blocked: Blocked) -> str:
        return f"{FALLBACK} ({blocked.stage})"

    on_unsafe: Any = fallback if script.on_unsafe == "reroute" else script.on_unsafe
    tool = guard_tool(FunctionTool.from_defaults(fn=search), _guard(), on_unsafe=on_unsafe)

    def run(outcome: Outcome) -> None:
        if method == "call":
            output: ToolOutput = tool.call(script.argument)
        else:
            output = asyncio.run(tool.acall(script.argument))
        outcome.items.append(output.content)
        error = output.exception
        outcome.records = {
            "is_error": output.is_error,
            "stage": error.stage if isinstance(error, UnsafeContentError) else None,
            "ran": list(calls),
        }

    return _observed(run)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=tool_scripts)
def test_guard_tool_decides_alike_through_call_and_acall(script: ToolScript) -> None:
    called = _tool_outcome(script, "call")
    assert _tool_outcome(script, "acall") == called
    unsafe_args = MARKER in script.argument
    stage = "tool_args" if unsafe_args else "tool_result" if MARKER in script.answer else None
    if stage is not None and script.on_unsafe == "raise":
        assert called.raised == stage
    elif stage is not None:
        assert called.records["is_error"] and called.records["stage"] == stage
        assert called.records["ran"] == ([] if unsafe_args else [script.argument])
    else:
        assert called.text == "".join(script.tokens)


def test_a_sync_call_refuses_an_async_fallback() -> None:
    """A coroutine fallback under a sync method says what to do (it would never be awaited)."""

    async def fallback(blocked: Blocked) -> str:
        return "never"

    engine = GuardedQueryEngine(ScriptedQueryEngine(["Hi."]), _guard(), on_unsafe=fallback)
    with pytest.raises(TypeError, match="aquery"):
        engine.query(f"Tell me about {MARKER}.")
    assert str(asyncio.run(engine.aquery(f"Tell me about {MARKER}."))) == "never"


@pytest.mark.parametrize("guarded", [GuardedQueryEngine, GuardedChatEngine])
def test_both_engines_check_what_they_wrap(guarded: Any) -> None:
    """Both engines share one construction: the wrapped engine's type is checked, and a typo
    in ``on_unsafe`` fails when the engine is built, naming what it takes."""
    inner = ScriptedQueryEngine(["Hi."]) if guarded is GuardedQueryEngine else _chat_engine([])
    with pytest.raises(TypeError, match="engine must be a Base"):
        guarded(object(), _guard())
    with pytest.raises(ValueError, match="or a callable to reroute to"):
        guarded(inner, _guard(), on_unsafe="refused")
    guard = _guard()
    engine = guarded(inner, guard)
    assert engine.engine is inner
    assert engine.guard is guard
