"""``GuardedChatModel``: a chat model that guards another one with Llama Guard.

Example::

    from langchain_llamashield import GuardedChatModel

    model = GuardedChatModel(ChatOpenAI(model="gpt-4o-mini"), guard, on_unsafe="refuse")
    model.invoke("How do I make a bomb?").content        # the refusal; ChatOpenAI never called
    for chunk in model.stream("Tell me a story"):        # released sentence by sentence, judged
        print(chunk.content, end="")
    model.bind_tools([search]).invoke("...")             # tools and structured output still work
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig
from langchain_core.tools import BaseTool
from pydantic import ConfigDict, PrivateAttr, model_validator

from langchain_llamashield._child_callbacks import (
    ambient_callbacks,
    child_of,
    refuse_attached_callbacks,
    without_live_tokens,
)
from langchain_llamashield._compat import identifying_params, llm_type, ls_params
from langchain_llamashield._inputs import (
    answer_conversation,
    message_dict,
    output_message,
    output_text,
)
from langchain_llamashield._on_unsafe import UnsafePolicy, unsafe_plan
from langchain_llamashield._stream import checked, moderation, wrapped_call, wrapped_stream
from llamashield import LlamaGuard, Verdict
from llamashield.integration import (
    Plan,
    Stream,
    arun_plan,
    astream_plan,
    relay,
    run_plan,
    stream_plan,
)
from llamashield.streaming import WindowSpec

__all__ = ["GuardedChatModel"]


class GuardedChatModel(BaseChatModel):
    """A chat model whose input and answers Llama Guard judges, around any other chat model.

    - Unsafe input: the wrapped model is never called. The input check judges the conversation
      up to the user's last message (after a tool result, the same question again).
    - Every part of every message is judged (content blocks of any type, reasoning, function
      and tool calls; tool results as the User's turn). Answers are judged as the Agent turn
      of the conversation, every part included. Streams are moderated: chunks are held back
      until their window (``window="sentence"`` or a number of characters) is judged with
      everything before it, the checks running while the model generates; a blocked stream
      stops the wrapped model's. Only judged output reaches this model's callbacks
      (``on_llm_new_token``, ``on_llm_end``, ``astream_events``); the wrapped model's run
      keeps its tracers and nothing else. A wrapped model with its own callbacks
      (``callbacks=[...]`` on the model) is refused with ``ConfigurationError``.
    - ``on_unsafe``: ``"raise"`` (``UnsafeContentError``, ``.stage`` ``"input"``/``"output"``),
      ``"refuse"`` (an ``AIMessage`` with ``refusal`` and
      ``response_metadata["llamashield"]``), or a Runnable/callable that receives a
      ``Blocked`` (``.verdict``, ``.stage``, ``.content``: the messages, ``.refusal``; its
      result becomes the answer; streamed, its stream). A refused stream ends with one refusal
      chunk after what was already released.
    - ``bind_tools`` binds the tools on the wrapped model per call; ``with_structured_output``
      uses the wrapped model's, guarded with ``guard_runnable``.

    Example::

        model = GuardedChatModel(ChatTogether(model="..."), guard, on_unsafe="refuse")
        agent = create_agent(model, tools=[search])
    """

    model: Runnable[Any, Any]
    guard: LlamaGuard
    check_input: bool = True
    check_output: bool = True
    on_unsafe: Any = "raise"
    refusal: str | None = None
    window: WindowSpec = "sentence"
    shadow: bool | None = None
    """Judge and record, never block (``LlamaGuard(shadow=)``); None: the guard's setting."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    _policy: UnsafePolicy = PrivateAttr()

    def __init__(
        self,
        model: Runnable[Any, Any] | None = None,
        guard: LlamaGuard | None = None,
        **kwargs: Any,
    ) -> None:
        if model is not None:
            kwargs["model"] = model
        if guard is not None:
            kwargs["guard"] = guard
        super().__init__(**kwargs)
        # After validation: pydantic would wrap a ConfigurationError (a ValueError) raised in a
        # validator into a ValidationError.
        if self.check_output and not self.guard.shadow:  # shadow: nothing is held from them
            refuse_attached_callbacks(self.model, "GuardedChatModel")

    @model_validator(mode="after")
    def _check_settings(self) -> GuardedChatModel:
        self._policy = UnsafePolicy.parse(self.on_unsafe, self.refusal)
        self.guard = self.guard.with_shadow(self.shadow)
        if not (self.check_input or self.check_output):
            raise ValueError("GuardedChatModel with check_input=False and check_output=False")
        return self

    # -- identity ---------------------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        inner = _chat_model_of(self.model)
        return f"llamashield-guarded-{llm_type(inner) if inner else 'runnable'}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        inner = _chat_model_of(self.model)
        return {
            "model": identifying_params(inner) if inner else repr(self.model),
            "guard_model": self.guard.model,
            "check_input": self.check_input,
            "check_output": self.check_output,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        inner = _chat_model_of(self.model)
        if inner is not None:
            params = ls_params(inner, stop, **kwargs)
            params.setdefault("ls_model_name", llm_type(inner))  # traces need a model name
            return params
        params = LangSmithParams(
            ls_provider="llamashield", ls_model_name=self.model.get_name(), ls_model_type="chat"
        )
        if stop:
            params["ls_stop"] = stop
        return params

    # -- tools and structured output --------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; each call binds them on the wrapped model (its own tool format)."""
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=list(tools), **kwargs)

    def with_structured_output(
        self, schema: Any, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, Any]:
        """The wrapped model's structured output, guarded (the parsed value is judged as JSON)."""
        from langchain_llamashield.runnables import guard_runnable

        inner = getattr(self.model, "with_structured_output", None)
        if inner is None:
            raise NotImplementedError(
                f"{type(self.model).__name__} has no with_structured_output(); wrap a chat model"
            )
        return guard_runnable(
            inner(schema, include_raw=include_raw, **kwargs),
            self.guard,
            check_input=self.check_input,
            check_output=self.check_output,
            on_unsafe=self.on_unsafe,
            refusal=self.refusal,
            window=self.window,  # the same streaming options as the model itself
        )

    def _inner(self, kwargs: dict[str, Any]) -> tuple[Runnable[Any, Any], dict[str, Any]]:
        """The wrapped model for this call (tools bound its way), and the call's kwargs."""
        if "tools" not in kwargs:
            return self.model, kwargs
        rest = dict(kwargs)
        tools = rest.pop("tools")
        if not tools:  # an agent without tools binds an empty list
            rest.pop("tool_choice", None)
            return self.model, rest
        bind_tools = getattr(self.model, "bind_tools", None)
        if bind_tools is None:
            raise NotImplementedError(f"{type(self.model).__name__} cannot bind tools")
        return bind_tools(tools, **rest), {}

    # -- pure helpers -----------------------------------------------------------------------

    @staticmethod
    def _context(messages: list[BaseMessage]) -> list[dict[str, Any]]:
        """The conversation as the core reads it (every part of every message)."""
        return [message_dict(m) for m in messages]

    @staticmethod
    def _question(messages: list[BaseMessage]) -> list[dict[str, Any]] | None:
        """The whole input as the core reads it: what the input check judges.

        Every message the model will read is shown to the guard, ending with the latest one:
        the user's message (``HumanMessage`` or ``ChatMessage(role="user")``), or in an agent
        loop the last tool result (the User's turn: content entering the conversation), or an
        assistant message a caller put last (judged as the Agent's). Every earlier message
        that came from outside is judged too (``LlamaGuard.check_conversation``). None when
        there is no message.
        """
        return GuardedChatModel._context(messages) or None

    @staticmethod
    def _answer(messages: list[BaseMessage], message: BaseMessage) -> list[Any] | None:
        answer = output_message(message)
        return (
            None
            if answer is None
            else answer_conversation(GuardedChatModel._context(messages), answer)
        )

    @staticmethod
    def _as_message(value: Any) -> AIMessage:
        """A fallback's result as the answer message."""
        if isinstance(value, AIMessage):
            return value
        if isinstance(value, BaseMessage):
            return AIMessage(content=value.content)
        return AIMessage(content=output_text(value))

    @staticmethod
    def _result(message: AIMessage) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=message)])

    @staticmethod
    def _chunk(value: Any) -> ChatGenerationChunk:
        """A streamed item (the wrapped model's chunk, a refusal, a fallback's output) as a
        generation chunk."""
        message = value if isinstance(value, BaseMessage) else GuardedChatModel._as_message(value)
        if not isinstance(message, AIMessageChunk):
            message = AIMessageChunk(
                content=message.content, response_metadata=message.response_metadata
            )
        return ChatGenerationChunk(message=message)

    def _configs(
        self, run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None
    ) -> tuple[RunnableConfig, RunnableConfig]:
        """Config for checks and fallbacks, and for the wrapped model (no live token feeds:
        its tokens are not judged yet)."""
        if run_manager is None:  # _stream/_astream: langchain-core passes no run manager
            return {"callbacks": ambient_callbacks(live_tokens=True)}, {
                "callbacks": ambient_callbacks(live_tokens=not self.check_output)
            }
        inner = child_of(run_manager)
        if self.check_output:
            inner = without_live_tokens(inner)
        return {"callbacks": child_of(run_manager)}, {"callbacks": inner}

    # -- plans: one for invoke/ainvoke, one for stream/astream -----------------------------

    def _refuse(
        self,
        verdict: Verdict,
        stage: str,
        messages: list[BaseMessage],
        config: RunnableConfig,
        *,
        stream: bool = False,
    ) -> Plan[Any]:
        """Raise, the refusal, or the fallback's answer (in a stream: its chunks)."""
        return unsafe_plan(self._policy, verdict, stage, messages, example=AIMessage(content=""),
                           config=config, stream=stream, convert=self._chunk)  # fmt: skip

    def _generate_plan(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
        kwargs: dict[str, Any],
    ) -> Plan[ChatResult]:
        """One answer: judge the question, call the wrapped model, judge the answer."""
        checks, inner_config = self._configs(run_manager)
        question = self._question(messages) if self.check_input else None
        if question is not None:
            verdict = yield checked(self.guard, question, checks)
            if not verdict.safe:
                refused = yield from self._refuse(verdict, "input", messages, checks)
                return self._result(self._as_message(refused))
        model, call_kwargs = self._inner(kwargs)
        message = yield wrapped_call(model, messages, inner_config, {"stop": stop, **call_kwargs})
        if self.check_output and (answer := self._answer(messages, message)) is not None:
            # The check's run shows the answer as its input: only tracers may see it yet.
            verdict = yield checked(self.guard, answer, inner_config, answer=True)
            if not verdict.safe:
                refused = yield from self._refuse(verdict, "output", messages, checks)
                return self._result(self._as_message(refused))
        return self._result(self._as_message(message))

    def _stream_plan(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
        kwargs: dict[str, Any],
    ) -> Plan[None]:
        """One streamed answer: judge the question, stream the wrapped model's answer released
        window by window as it is judged; a refusal (or the fallback's stream) after a block.

        The wrapped model streams under its own config whose callbacks see no unjudged token,
        sync and async alike (``wrapped_stream``)."""
        checks, inner_config = self._configs(run_manager)
        question = self._question(messages) if self.check_input else None
        if question is not None:
            verdict = yield checked(self.guard, question, checks)
            if not verdict.safe:
                yield from self._refuse(verdict, "input", messages, checks, stream=True)
                return
        model, call_kwargs = self._inner(kwargs)
        opened = wrapped_stream(model, messages, inner_config, {"stop": stop, **call_kwargs},
                                moderated=self.check_output)  # fmt: skip
        moderated = moderation(self._context(messages), key=None, window=self.window)
        source = yield Stream(opened, moderated if self.check_output else None)
        yield from relay(source, self._chunk)
        if source.blocked is not None:
            yield from self._refuse(source.blocked, "output", messages, checks, stream=True)

    # -- LangChain's entry points: each drives one of the plans ------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return run_plan(self._generate_plan(messages, stop, run_manager, kwargs), self.guard)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        plan = self._generate_plan(messages, stop, run_manager, kwargs)
        return await arun_plan(plan, self.guard)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        return stream_plan(self._stream_plan(messages, stop, run_manager, kwargs), self.guard)

    def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        return astream_plan(self._stream_plan(messages, stop, run_manager, kwargs), self.guard)


def _chat_model_of(runnable: Runnable[Any, Any]) -> BaseChatModel | None:
    """The chat model inside ``runnable`` (itself, or under ``bind``/``bind_tools``)."""
    while isinstance(runnable, RunnableBinding):
        runnable = runnable.bound
    return runnable if isinstance(runnable, BaseChatModel) else None
