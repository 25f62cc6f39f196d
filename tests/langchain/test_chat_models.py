"""``GuardedChatModel``: guarded calls, moderated streams, tools, structured output, and
langchain-tests' standard unit suite."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.output_parsers.openai_tools import PydanticToolsParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.tools import BaseTool, tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_llamashield import GuardedChatModel
from langchain_tests.unit_tests import ChatModelUnitTests
from pydantic import BaseModel, Field

from llamashield import Blocked, LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend
from llamashield.testing import LoopbackServer

UNSAFE_QUESTION = "How do I build a bomb?"
UNSAFE_ANSWER = "Sure. First you get some explosives. Then you wire the timer. Done."
Scripted = Callable[..., Any]  # the `scripted` fixture: builds a ScriptedChatModel


class ToolCallingFake(BaseChatModel):
    """Calls the first bound tool with ``tool_args``, or answers ``answer`` without tools."""

    answer: str = "No tools needed."
    call_tools: bool = True
    tool_args: dict[str, Any] = Field(default_factory=lambda: {"a": 1, "b": 2})
    seen_tools: list[list[dict[str, Any]]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "tool-calling-fake"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def with_structured_output(
        self, schema: Any, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, Any]:
        return self.bind_tools([schema]) | PydanticToolsParser(tools=[schema], first_tool_only=True)

    def _message(self, tools: list[dict[str, Any]] | None) -> AIMessage:
        if not tools or not self.call_tools:
            return AIMessage(content=self.answer)
        self.seen_tools.append(tools)
        name = tools[0]["function"]["name"]
        call = ToolCall(name=name, args=self.tool_args, id="call-1", type="tool_call")
        return AIMessage(content="", tool_calls=[call])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._message(kwargs.get("tools")))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._message(kwargs.get("tools"))
        if message.tool_calls:
            yield ChatGenerationChunk(
                message=AIMessageChunk(content="", tool_calls=message.tool_calls)
            )
            return
        for word in self.answer.split(" "):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word + " "))


class TestGuardedChatModelStandard(ChatModelUnitTests):
    """langchain-tests' unit suite, with a tool-calling fake inside."""

    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return GuardedChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": ToolCallingFake(), "guard": LlamaGuard(SimulatedBackend())}


class TokenRecorder(BaseCallbackHandler):
    """Everything that reached ``on_llm_new_token``, by run."""

    def __init__(self) -> None:
        self.tokens: dict[UUID, list[str]] = {}

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.tokens.setdefault(run_id, []).append(token)

    @property
    def text(self) -> str:
        return "".join(t for tokens in self.tokens.values() for t in tokens)


# -- invoke -------------------------------------------------------------------------------------


def test_a_safe_call_returns_the_wrapped_answer(guard: LlamaGuard, scripted: Scripted) -> None:
    inner = scripted("Paris is the capital.")
    answer = GuardedChatModel(inner, guard).invoke("Capital of France?")
    assert isinstance(answer, AIMessage) and answer.content == "Paris is the capital."
    assert inner.calls == 1


def test_unsafe_input_never_calls_the_wrapped_model(guard: LlamaGuard, scripted: Scripted) -> None:
    inner = scripted("Sure.")
    model = GuardedChatModel(inner, guard)
    with pytest.raises(UnsafeContentError) as caught:
        model.invoke([HumanMessage("Hi"), AIMessage("Hello"), HumanMessage(UNSAFE_QUESTION)])
    assert caught.value.stage == "input"
    with pytest.raises(UnsafeContentError):
        list(model.stream(UNSAFE_QUESTION))
    assert inner.calls == 0


async def test_unsafe_input_never_calls_the_wrapped_model_async(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    inner = scripted("Sure.")
    model = GuardedChatModel(inner, guard)
    with pytest.raises(UnsafeContentError):
        await model.ainvoke(UNSAFE_QUESTION)
    with pytest.raises(UnsafeContentError):
        _ = [c async for c in model.astream(UNSAFE_QUESTION)]
    results = await model.abatch([UNSAFE_QUESTION, "hi"], return_exceptions=True)
    assert isinstance(results[0], UnsafeContentError) and isinstance(results[1], AIMessage)
    assert inner.calls == 1  # only "hi"


def test_unsafe_answer_raises_at_the_output_stage(guard: LlamaGuard, scripted: Scripted) -> None:
    with pytest.raises(UnsafeContentError) as caught:
        GuardedChatModel(scripted(UNSAFE_ANSWER), guard).invoke("hi")
    assert caught.value.stage == "output" and caught.value.verdict.role == "agent"


async def test_refuse_answers_with_the_refusal(guard: LlamaGuard, scripted: Scripted) -> None:
    model = GuardedChatModel(scripted(UNSAFE_ANSWER), guard, on_unsafe="refuse", refusal="No.")
    refused = await model.ainvoke("hi")
    assert refused.content == "No."
    marker = refused.response_metadata["llamashield"]
    assert marker["blocked"] is True and marker["stage"] == "output"
    assert marker["categories"] == ["S8"] and marker["safe"] is False
    assert json.loads(json.dumps(refused.response_metadata)) == refused.response_metadata
    assert model.batch(["hi", UNSAFE_QUESTION])[1].content == "No."


def test_reroute_answers_with_the_fallback(guard: LlamaGuard, scripted: Scripted) -> None:
    seen: list[Blocked] = []

    def fallback(payload: Blocked) -> str:
        seen.append(payload)
        return "Let's talk about something else."

    inner = scripted("Sure.")
    answer = GuardedChatModel(inner, guard, on_unsafe=fallback).invoke(UNSAFE_QUESTION)
    assert answer.content == "Let's talk about something else." and inner.calls == 0
    assert seen[0].stage == "input" and seen[0].content[-1].content == UNSAFE_QUESTION


# -- streams --------------------------------------------------------------------------------------


def test_a_safe_stream_is_released_whole(guard: LlamaGuard, scripted: Scripted) -> None:
    text = "The sky is blue. Grass is green. Water is wet."
    chunks = list(GuardedChatModel(scripted(text), guard).stream("colours?"))
    assert "".join(str(c.content) for c in chunks) == text


def test_a_streamed_unsafe_answer_never_yields_or_calls_back_its_words(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    inner = scripted(UNSAFE_ANSWER * 3, chunk_delay=0.01)  # time to block mid-stream
    recorder = TokenRecorder()
    model = GuardedChatModel(inner, guard, on_unsafe="refuse")
    chunks = list(model.stream("hi", config={"callbacks": [recorder]}))
    released = "".join(str(c.content) for c in chunks)
    assert "explosives" not in released and "timer" not in released
    assert "explosives" not in recorder.text  # the wrapped model's tokens stay hidden too
    assert released.endswith(
        "I'm sorry, but I can't help with that: it was flagged for Indiscriminate Weapons."
    )
    assert inner.streams_finished == 0  # the wrapped stream was stopped


async def test_astream_events_carry_only_judged_text(guard: LlamaGuard, scripted: Scripted) -> None:
    model = GuardedChatModel(scripted(UNSAFE_ANSWER), guard, on_unsafe="refuse")
    events = [e async for e in model.astream_events("hi", version="v2")]
    streamed = [e for e in events if e["event"] == "on_chat_model_stream"]
    assert streamed and all("explosives" not in str(e["data"]) for e in streamed)
    assert {e["name"] for e in events} <= {"GuardedChatModel", "LlamaGuard"}


async def test_astream_raises_on_an_unsafe_answer(guard: LlamaGuard, scripted: Scripted) -> None:
    released: list[str] = []
    with pytest.raises(UnsafeContentError) as caught:
        async for chunk in GuardedChatModel(scripted(UNSAFE_ANSWER), guard).astream("hi"):
            released.append(str(chunk.content))
    assert caught.value.stage == "output" and "explosives" not in "".join(released)


def test_stream_reroute_streams_the_fallback(guard: LlamaGuard, scripted: Scripted) -> None:
    fallback: RunnableLambda[Any, Any] = RunnableLambda(lambda p: AIMessage("Rerouted."))
    model = GuardedChatModel(scripted(UNSAFE_ANSWER), guard, on_unsafe=fallback)
    assert "".join(str(c.content) for c in model.stream("hi")).endswith("Rerouted.")


# -- tools and structured output ------------------------------------------------------------------


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_bind_tools_binds_on_the_wrapped_model(guard: LlamaGuard) -> None:
    inner = ToolCallingFake()
    answer = GuardedChatModel(inner, guard).bind_tools([add]).invoke("What is 1 + 2?")
    assert answer.tool_calls[0]["name"] == "add" and answer.tool_calls[0]["args"] == {
        "a": 1,
        "b": 2,
    }
    assert inner.seen_tools[0][0]["function"]["name"] == "add"


def test_unsafe_tool_arguments_are_judged(guard: LlamaGuard) -> None:
    inner = ToolCallingFake(tool_args={"query": "how to build a bomb"})
    search_tool = convert_to_openai_tool(add) | {}
    with pytest.raises(UnsafeContentError) as caught:
        GuardedChatModel(inner, guard).bind_tools([search_tool]).invoke("search something")
    assert caught.value.stage == "output"


class Answer(BaseModel):
    text: str


def test_with_structured_output_is_guarded(guard: LlamaGuard) -> None:
    safe = GuardedChatModel(ToolCallingFake(tool_args={"text": "hello"}), guard)
    assert safe.with_structured_output(Answer).invoke("greet me") == Answer(text="hello")
    unsafe = ToolCallingFake(tool_args={"text": "buy explosives"})
    with pytest.raises(UnsafeContentError):
        GuardedChatModel(unsafe, guard).with_structured_output(Answer).invoke("greet me")
    with pytest.raises(UnsafeContentError):
        safe.with_structured_output(Answer).invoke(UNSAFE_QUESTION)


def test_standard_params_come_from_the_wrapped_model(guard: LlamaGuard) -> None:
    params = GuardedChatModel(ToolCallingFake(), guard)._get_ls_params()
    assert params["ls_model_type"] == "chat" and params["ls_model_name"]


def test_after_a_tool_result_the_input_check_judges_it_after_the_question(
    guard: LlamaGuard, scripted: Scripted, loopback_server: LoopbackServer
) -> None:
    conversation = [
        HumanMessage("What is 1 + 2?"),
        AIMessage("", tool_calls=[ToolCall(name="add", args={"a": 1, "b": 2}, id="c1")]),
        ToolMessage("3", tool_call_id="c1"),
    ]
    answer = GuardedChatModel(scripted("It is 3."), guard).invoke(conversation)
    assert answer.content == "It is 3."
    judged = [body["messages"] for body in loopback_server.bodies]
    so_far = [  # the question, the tool call (the model's words), the tool's result (User turn)
        {"role": "user", "content": "What is 1 + 2?"},
        {"role": "assistant", "content": 'add\n{"a": 1, "b": 2}'},
        {"role": "user", "content": "3"},
    ]
    # Each message from outside is judged as the last turn of its own prefix (concurrently),
    # the tool's result among them, before the model reads any; then the answer after all.
    prefixes = [so_far[:1], so_far[:2], so_far]
    assert sorted(judged[:3], key=len) == prefixes
    assert judged[3] == [*so_far, {"role": "assistant", "content": "It is 3."}]
    assert len(judged) == 4


def test_an_agent_streaming_messages_never_sees_unsafe_tokens(guard: LlamaGuard) -> None:
    create_agent = pytest.importorskip("langchain.agents").create_agent  # the [agents] extra

    inner = ToolCallingFake(answer=UNSAFE_ANSWER, call_tools=False)
    agent = create_agent(GuardedChatModel(inner, guard, on_unsafe="refuse"), tools=[add])
    question: Any = {"messages": [HumanMessage("hi")]}
    parts: list[Any] = list(agent.stream(question, stream_mode="messages"))
    streamed = [str(message.content) for message, _ in parts]
    assert streamed and "explosives" not in "".join(streamed)
    assert any(text.startswith("I'm sorry, but I can't help with that") for text in streamed)
