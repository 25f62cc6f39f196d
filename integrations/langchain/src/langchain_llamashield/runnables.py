"""Guard LangChain runnables: ``LlamaGuardRunnable`` (a check step) and ``guard_runnable`` (a
guard around any chain or chat model).

Example::

    from langchain_llamashield import LlamaGuardRunnable, guard_runnable

    chain = LlamaGuardRunnable(guard) | prompt | model | StrOutputParser()   # a check step
    safe_chain = guard_runnable(prompt | model, guard, on_unsafe="refuse")  # input and output
    for chunk in safe_chain.stream({"question": "hi"}):                     # moderated stream
        print(chunk.content, end="")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from typing import Any, Literal, cast

from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
)
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import ensure_config, patch_config
from pydantic import BaseModel, ConfigDict, PrivateAttr

from langchain_llamashield._buffered_callbacks import CallbackBuffer, without_event_streams
from langchain_llamashield._child_callbacks import refuse_attached_callbacks, without_live_tokens
from langchain_llamashield._history import history_read, stores_of
from langchain_llamashield._inputs import (
    answer_conversation,
    input_conversation,
    message_dict,
    output_message,
    template_history,
)
from langchain_llamashield._on_unsafe import (
    OnUnsafe,
    UnsafePolicy,
    output_example,
    unsafe_plan,
)
from langchain_llamashield._stream import (
    checked,
    input_stream,
    merged_input,
    moderation,
    wrapped_call,
    wrapped_stream,
)
from langchain_llamashield._watch import (
    aunwatched_run,
    child_config,
    is_unwatched,
    unwatched,
    unwatched_run,
    without_callbacks,
)
from llamashield import LlamaGuard, Verdict
from llamashield.integration import (
    END,
    Await,
    Call,
    Close,
    Emit,
    Next,
    Plan,
    Start,
    Stream,
    arun_plan,
    astream_plan,
    relay,
    run_plan,
    stream_plan,
)
from llamashield.streaming import WindowSpec

_RunManager = CallbackManagerForChainRun | AsyncCallbackManagerForChainRun
_Chunks = Iterator[Any] | AsyncIterator[Any]  # what transform/atransform receive
_Kwargs = dict[str, Any]
_Drive = Callable[[Plan[Any], LlamaGuard], Any]

__all__ = ["GuardedRunnable", "LlamaGuardRunnable", "guard_runnable"]


class _GuardRunnableBase(RunnableSerializable[Any, Any]):
    """invoke/ainvoke and stream/astream/transform/atransform, traced, for both guard runnables.

    Subclasses write what a call does as two sans-I/O plans: ``_plan`` (a value, for
    ``invoke``/``ainvoke``) and ``_stream_plan`` (the chunks of ``transform``/``atransform``,
    which ``stream``/``astream`` use). Each LangChain entry point below only picks the driver
    (``run_plan``, ``arun_plan``, ``stream_plan``, ``astream_plan``): the pairs left are the
    sync and async methods LangChain's API has.
    """

    guard: LlamaGuard
    shadow: bool | None = None
    """Judge and record, never block (``LlamaGuard(shadow=)``); None: the guard's setting."""
    model_config = ConfigDict(arbitrary_types_allowed=True)

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self.guard = self.guard.with_shadow(self.shadow)

    def _plan(
        self, value: Any, run_manager: _RunManager, config: RunnableConfig, kwargs: _Kwargs
    ) -> Plan[Any]:
        """What one call does (judge, call, decide), without I/O; subclasses define it."""
        raise NotImplementedError

    def _stream_plan(
        self, chunks: _Chunks, run_manager: _RunManager, config: RunnableConfig, kwargs: _Kwargs
    ) -> Plan[None]:
        """What one streamed call emits, without I/O; subclasses define it."""
        raise NotImplementedError

    def _driven(
        self,
        drive: _Drive,
        plan: Callable[..., Plan[Any]],
        value: Any,
        run_manager: _RunManager,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Any:
        """``plan`` for this call, driven by ``drive``: what LangChain's ``_call_with_config``
        and ``_transform_stream_with_config`` (and their async twins) call."""
        return drive(plan(value, run_manager, config, kwargs), self.guard)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        config = ensure_config(config)
        invoke = partial(self._driven, run_plan, self._plan)
        if unwatched(config):  # nobody would see the run: skip making it
            return invoke(input, unwatched_run(), config, **kwargs)
        return self._call_with_config(invoke, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        config = ensure_config(config)
        ainvoke = partial(self._driven, arun_plan, self._plan)
        if unwatched(config):  # nor its task: LangChain runs each traced call in a new one
            return await ainvoke(input, aunwatched_run(), config, **kwargs)
        return await self._acall_with_config(ainvoke, input, config, **kwargs)

    def transform(
        self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        streamed = partial(self._driven, stream_plan, self._stream_plan)
        yield from self._transform_stream_with_config(input, streamed, config, **kwargs)

    async def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        streamed = partial(self._driven, astream_plan, self._stream_plan)
        async for chunk in self._atransform_stream_with_config(input, streamed, config, **kwargs):
            yield chunk

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        return self.transform(iter([input]), config, **kwargs)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        async def single() -> AsyncIterator[Any]:
            yield input

        async for chunk in self.atransform(single(), config, **kwargs):
            yield chunk


class LlamaGuardRunnable(_GuardRunnableBase):
    """A chain step that passes its input through unchanged when Llama Guard judges it safe.

    Takes a str, messages, a ``PromptValue``, or a dict (``input_key`` picks the text; by
    default every string value is judged, after any message lists as history). With
    ``role="user"`` the input is judged as the user's turn (stage ``"input"``); with
    ``role="agent"`` as the assistant's answer (stage ``"output"``), and when streamed it is
    moderated window by window (``window=``) instead of waiting for the whole answer.

    ``on_unsafe``: ``"raise"`` (``UnsafeContentError``), ``"refuse"`` (the ``refusal`` text in
    the value's shape: an ``AIMessage`` for a message, a str for text; at the end of a chain
    this replaces an unsafe answer), or a Runnable / callable that receives a ``Blocked``
    (``.verdict``, ``.stage``, ``.content``: the value, ``.refusal``) and whose result is
    returned (streamed, its stream).
    A step cannot stop the rest of a chain: to skip the model on unsafe input, raise (and
    ``with_fallbacks``) or use ``guard_runnable``.

    Each check shows up in traces as a child run named "LlamaGuard" whose output is the
    ``Verdict``. ``batch``/``abatch`` judge their inputs concurrently.

    Example::

        from langchain_llamashield import LlamaGuardRunnable

        chain = LlamaGuardRunnable(guard) | prompt | model
        chain.invoke({"question": "How do I make a bomb?"})   # raises UnsafeContentError
        answer_guard = LlamaGuardRunnable(guard, role="agent", on_unsafe="refuse")
        (prompt | model | answer_guard).invoke({"question": "hi"})
    """

    guard: LlamaGuard
    role: Literal["user", "agent"] = "user"
    on_unsafe: Any = "raise"
    input_key: str | None = None
    refusal: str | None = None
    window: WindowSpec = "sentence"

    model_config = ConfigDict(arbitrary_types_allowed=True)
    _policy: UnsafePolicy = PrivateAttr()

    def __init__(
        self,
        guard: LlamaGuard,
        role: Literal["user", "agent"] = "user",
        on_unsafe: OnUnsafe = "raise",
        input_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.update(guard=guard, role=role, on_unsafe=on_unsafe, input_key=input_key)
        super().__init__(**kwargs)
        if self.role not in ("user", "agent"):
            raise ValueError(f"role must be 'user' or 'agent', got {self.role!r}")
        self._policy = UnsafePolicy.parse(on_unsafe, self.refusal)

    @property
    def stage(self) -> str:
        return "input" if self.role == "user" else "output"

    def _conversation(self, value: Any) -> list[Any]:
        return input_conversation(value, role=self.role, key=self.input_key)

    # -- plans ------------------------------------------------------------------------------

    def _plan(
        self, value: Any, run_manager: _RunManager, config: RunnableConfig, kwargs: _Kwargs
    ) -> Plan[Any]:
        child = child_config(config, run_manager)
        verdict = yield checked(self.guard, self._conversation(value), child)
        if verdict.safe:
            return value
        return (yield from unsafe_plan(self._policy, verdict, self.stage, value, example=value,
                                       config=child))  # fmt: skip

    def _stream_plan(
        self, chunks: _Chunks, run_manager: _RunManager, config: RunnableConfig, kwargs: _Kwargs
    ) -> Plan[None]:
        """A user's input is judged whole; an answer streaming through is released window by
        window as it is judged."""
        if self.role == "user":
            value = yield from merged_input(chunks)
            yield Emit((yield from self._plan(value, run_manager, config, kwargs)))
            return
        moderated = moderation([], key=self.input_key, window=self.window)
        source = yield Stream(input_stream(chunks), moderated)
        last = yield from relay(source)
        if source.blocked is not None:
            child = child_config(config, run_manager)
            yield from unsafe_plan(self._policy, source.blocked, "output", source.text,
                                   example="" if last is None else last, config=child,
                                   stream=True)  # fmt: skip


class GuardedRunnable(_GuardRunnableBase):
    """A runnable guarded by Llama Guard on its input and output; built by ``guard_runnable``."""

    runnable: Runnable[Any, Any]
    guard: LlamaGuard
    check_input: bool = True
    check_output: bool = True
    on_unsafe: Any = "raise"
    parallel: bool = False
    refusal: str | None = None
    window: WindowSpec = "sentence"
    input_key: str | None = None
    output_key: str | None = None

    model_config = ConfigDict(arbitrary_types_allowed=True)
    _policy: UnsafePolicy = PrivateAttr()
    # The input variables the wrapped prompt template places as messages (with their roles).
    _history: frozenset[str] = PrivateAttr(default=frozenset())
    # What loads a stored chat history inside the wrapped runnable (judged before it runs).
    _stores: tuple[Any, ...] = PrivateAttr(default=())

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        # After validation: pydantic would wrap a ConfigurationError (a ValueError) raised in
        # model_post_init into a ValidationError.
        if self.check_output and not self.guard.shadow:  # shadow: its tokens go out as unguarded
            refuse_attached_callbacks(self.runnable, "guard_runnable()")

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self._policy = UnsafePolicy.parse(self.on_unsafe, self.refusal)
        self._history = template_history(self.runnable)
        self._stores = stores_of(self.runnable)
        if not (self.check_input or self.check_output):
            raise ValueError(
                "guard_runnable() with check_input=False and check_output=False guards nothing"
            )

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        return super().get_name(
            suffix, name=name or self.name or f"Guarded{self.runnable.get_name()}"
        )

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return cast("type[BaseModel]", self.runnable.get_input_schema(config))

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return cast("type[BaseModel]", self.runnable.get_output_schema(config))

    @property
    def InputType(self) -> Any:
        return self.runnable.InputType

    @property
    def OutputType(self) -> Any:
        return self.runnable.OutputType

    # -- pure helpers -----------------------------------------------------------------------

    def _context(self, value: Any, config: RunnableConfig) -> Plan[list[Any]]:
        """The input as a conversation, after the history the wrapped runnable will load from
        its store (``RunnableWithMessageHistory``): it reaches the model beside the input, so
        each of its turns is judged too. For the output check only, an input with no text is
        fine (the answer is judged on its own)."""
        try:
            context = input_conversation(value, key=self.input_key, history=self._history)
        except ValueError:
            if self.check_input:
                raise
            context = []
        read = history_read(self._stores, config) if self.check_input else None
        if read is None:
            return context
        stored: list[BaseMessage] = yield read
        return [*(message_dict(m) for m in stored), *context]

    def _answer(self, context: list[Any], output: Any) -> list[Any] | None:
        answer = output_message(output, key=self.output_key)
        return None if answer is None else answer_conversation(context, answer)

    def _configs(
        self,
        config: RunnableConfig,
        run_manager: CallbackManagerForChainRun | AsyncCallbackManagerForChainRun,
    ) -> tuple[RunnableConfig, RunnableConfig]:
        """Config for checks and fallbacks, and for the wrapped runnable (whose unjudged tokens
        must not reach live token handlers when the output is moderated, nor event streams
        before the input verdict when it runs beside the input check)."""
        child = child_config(config, run_manager)
        # No handler to filter out, or shadow mode (tokens reach handlers as unguarded).
        if self.guard.shadow or is_unwatched(run_manager):
            return child, child
        if self.check_output:
            return child, patch_config(
                config, callbacks=without_live_tokens(run_manager.get_child())
            )
        if self._overlapped:
            return child, patch_config(
                config, callbacks=without_event_streams(run_manager.get_child())
            )
        return child, child

    def _holding(self, overlapped: bool) -> Literal["all", "actors", "none"]:
        """What a call's ``CallbackBuffer`` holds back: everything until the input verdict
        when the call runs beside the input check, else what acts on a run until the output
        verdict; nothing in shadow mode (the chain behaves as unguarded)."""
        if self.guard.shadow:
            return "none"
        return "all" if overlapped else "actors"

    @property
    def _overlapped(self) -> bool:
        """Whether the wrapped runnable runs beside the input check (its events held back)."""
        return self.check_input and self.parallel

    def _call(
        self,
        value: Any,
        inner: RunnableConfig,
        kwargs: dict[str, Any],
        run_manager: _RunManager,
        buffer: CallbackBuffer | None,
    ) -> Call:
        """The wrapped runnable's call, under ``inner`` as LangChain's ambient config (a binding
        inside would bring the ambient callbacks back), its events held in ``buffer``."""
        if is_unwatched(run_manager):  # a plain call: no handler to keep away from its run
            bare = without_callbacks(inner)
            runnable = self.runnable
            call = Call(partial(runnable.invoke, value, bare, **kwargs),
                        partial(runnable.ainvoke, value, bare, **kwargs))  # fmt: skip
        else:
            call = wrapped_call(self.runnable, value, inner, kwargs)
        if buffer is None:
            return call
        ainvoke = cast("Callable[[], Awaitable[Any]]", call.async_)
        return Call(partial(buffer.run, call.sync), lambda: buffer.arun(ainvoke()))

    def _input_judged(self, verdict: Verdict, buffer: CallbackBuffer) -> Plan[None]:
        """What the parallel call's held events become at the input verdict: dropped when
        unsafe; else released, or (output still to judge) released to record keepers only."""
        if not verdict.safe:
            buffer.drop()
        elif self.check_output:
            yield Call(buffer.narrow, buffer.anarrow)
        else:
            yield Call(buffer.release, buffer.arelease)

    # -- plans ------------------------------------------------------------------------------

    def _plan(
        self, value: Any, run_manager: _RunManager, config: RunnableConfig, kwargs: _Kwargs
    ) -> Plan[Any]:
        """Judge the input, call the wrapped runnable, judge its output.

        ``parallel=True``: the call starts first, in the background (a task, or the shared
        pool), and the input is judged beside it; unsafe, the call is given up (an async one
        cancelled) and whatever it sent or still sends to callbacks is dropped.
        """
        child, inner = self._configs(config, run_manager)
        context = yield from self._context(value, config)
        # The wrapped run's callback events wait for the verdicts (see _buffered_callbacks):
        # all of them for the input verdict when it runs beside the input check; those of
        # handlers acting on a run (listeners, a history writer) for the output verdict.
        with CallbackBuffer(self._holding(self._overlapped)) as buffer:
            held = self._overlapped or self.check_output
            calling = self._call(value, inner, kwargs, run_manager, buffer if held else None)
            pending = (yield Start(calling)) if self._overlapped else None
            if self.check_input:
                verdict = yield checked(self.guard, context, child)
                if pending is not None:
                    yield from self._input_judged(verdict, buffer)
                if not verdict.safe:
                    return (yield from self._refuse(verdict, "input", value, child))
            try:
                output = yield (calling if pending is None else Await(pending))
            except Exception:
                if pending is not None:  # its input was safe: its events are the caller's
                    yield Call(buffer.release, buffer.arelease)
                raise
            if self.check_output and (answer := self._answer(context, output)) is not None:
                # The check's run shows the answer as its input: only tracers may see it yet.
                verdict = yield checked(self.guard, answer, inner, answer=True)
                if not verdict.safe:
                    buffer.drop()  # a refused answer: no listener hears of it, nothing remembers it
                    return (yield from self._refuse(verdict, "output", value, child, output))
            yield Call(buffer.release, buffer.arelease)
        return output

    def _stream_plan(
        self, chunks: _Chunks, run_manager: _RunManager, config: RunnableConfig, kwargs: _Kwargs
    ) -> Plan[None]:
        """Judge the input, stream the wrapped runnable's output released window by window as
        it is judged (the checks run while it generates), the unsafe outcome after a block.

        ``parallel=True``: the input check runs in the background while the stream starts;
        nothing leaves before its verdict, and a stream that failed before it is answered as
        sequential mode would (its error on safe input, the refusal on unsafe input).
        """
        value = yield from merged_input(chunks)
        child, inner = self._configs(config, run_manager)
        context = yield from self._context(value, config)
        if self.check_input and not self.parallel:
            verdict = yield checked(self.guard, context, child)
            if not verdict.safe:
                yield from self._refuse(verdict, "input", value, child, stream=True)
                return
        pending = (yield Start(checked(self.guard, context, child))) if self._overlapped else None
        blocked: tuple[str, Verdict] | None = None
        last = None
        # The wrapped run's callback events wait for the verdicts, as in ``_plan``.
        with CallbackBuffer(self._holding(pending is not None)) as buffer:
            held = pending is not None or self.check_output
            opened = wrapped_stream(self.runnable, value, inner, kwargs, buffer if held else None,
                                    moderated=self.check_output)  # fmt: skip
            moderated = moderation(context, key=self.output_key, window=self.window)
            source = yield Stream(opened, moderated if self.check_output else None)
            if pending is not None:  # nothing leaves before the input verdict
                failure: Exception | None = None
                try:
                    last = yield Next(source)
                except Exception as error:
                    last, failure = END, error
                verdict = yield Await(pending)
                yield from self._input_judged(verdict, buffer)
                if not verdict.safe:
                    blocked, last = ("input", verdict), None
                    yield Close(source)  # stop the wrapped stream before the refusal
                elif failure is not None:
                    raise failure
                elif last is not END:
                    yield Emit(last)
                else:
                    last = None
            if blocked is None:
                if (tail := (yield from relay(source))) is not None:
                    last = tail
                if source.blocked is not None:
                    blocked = ("output", source.blocked)
                else:
                    yield Call(buffer.release, buffer.arelease)  # judged to its end, and safe
        if blocked is not None:
            stage, verdict = blocked
            yield from self._refuse(verdict, stage, value, child, last, stream=True)

    def _refuse(
        self,
        verdict: Verdict,
        stage: str,
        value: Any,
        config: RunnableConfig,
        output: Any = None,
        *,
        stream: bool = False,
    ) -> Plan[Any]:
        example = output_example(self.runnable) if output is None else output
        return unsafe_plan(self._policy, verdict, stage, value, example=example, config=config,
                           stream=stream)  # fmt: skip


def guard_runnable(
    runnable: Runnable[Any, Any],
    guard: LlamaGuard,
    *,
    check_input: bool = True,
    check_output: bool = True,
    on_unsafe: OnUnsafe = "raise",
    parallel: bool = False,
    refusal: str | None = None,
    window: WindowSpec = "sentence",
    input_key: str | None = None,
    output_key: str | None = None,
    shadow: bool | None = None,
) -> GuardedRunnable:
    """Wrap any chain or chat model so Llama Guard judges its input and its output.

    - Unsafe input: the wrapped runnable is never called (with ``parallel=True`` it runs, and
      its result and callback events are discarded).
    - The output is judged as the Agent turn after the input (the User turn). Streams
      (``stream``/``astream``/``astream_events``) are moderated as they stream: chunks are held
      back until their window (``window="sentence"`` or a number of characters) is judged with
      everything before it; the checks run while the model generates, so a safe stream ends
      about one guard latency after the model; a blocked stream stops the model's stream.
      While moderating, the wrapped runnable's own run (tokens, answer, inner steps) reaches
      tracers only, not handlers or event streams: consumers only see judged output. Listeners
      inside it (``with_listeners``; ``RunnableWithMessageHistory``'s history writer) hear of
      it after the answer is judged safe, never of a refused answer. A
      runnable with callbacks of its own (``ChatOpenAI(callbacks=[...])``,
      ``with_config(callbacks=...)``) is refused with ``ConfigurationError``: pass them in the
      config of the guarded runnable instead.
    - Every value of a dict input is judged (message lists in any form LangChain accepts,
      strings, lists, nested dicts); outputs with every part (content blocks, reasoning,
      tool and function calls, structured objects as JSON).
    - The history a ``RunnableWithMessageHistory`` (the wrapped runnable, or its first step)
      loads from its store for the call's session is read first and judged with the input,
      each stored turn as the last of its own prefix: a store filled elsewhere never reaches
      the model unjudged. A history read deeper inside a chain is not found.
    - ``on_unsafe``: ``"raise"`` (``UnsafeContentError`` with ``.verdict`` and ``.stage``
      ``"input"``/``"output"``), ``"refuse"`` (``refusal`` as the output's type: an
      ``AIMessage`` for chat models, a str for string chains; in a stream, one more chunk after
      what was released), or a Runnable/callable receiving a ``Blocked`` (``.verdict``,
      ``.stage``, ``.content``: the original input, ``.refusal``) whose output is returned
      (in a stream, its stream).
    - ``parallel=True`` runs the input check concurrently with the wrapped call, every call
      (``invoke``, ``ainvoke``, streams), hiding the guard's latency. The wrapped runnable
      therefore runs on every input, unsafe ones included: nothing it returns or streams is
      released before the input verdict, and nothing of its run reaches a callback before
      it either. Its callback events (tokens, ``on_llm_end``, chain ends, tracers, listeners
      inside it such as ``RunnableWithMessageHistory``'s history writer) are held and
      replayed after a safe verdict; after an unsafe one they are dropped, the result is
      discarded and the refused exchange is never remembered. ``invoke``/``ainvoke`` start the
      call in the background (on a shared thread pool, or as a task) and answer at the input
      verdict: an unsafe input's refusal does not wait for the call (an async call is
      cancelled; a sync one is left to finish on the pool, unheard).
      Its other side effects (HTTP calls, tools, writes of its own) do happen: use it for
      runnables without them. With ``check_output=False`` the wrapped run's inner events do
      not reach ``astream_events``/``astream_log`` (LangChain hands those its chunks
      directly, out of the buffer's reach). A wrapped call that fails is answered as
      sequential mode would: its error on safe input, the unsafe policy on unsafe input.
    - ``input_key``/``output_key`` pick the text of dict inputs/outputs (default: every string
      value, e.g. the answer and the question of a retrieval chain).
    - ``shadow=True`` judges and records everything (metadata, callbacks, logs, OpenTelemetry)
      but blocks nothing: the chain behaves as unguarded, streams included. Default: the
      guard's own ``shadow``.

    Example::

        from langchain_llamashield import guard_runnable

        chain = guard_runnable(prompt | model, guard, on_unsafe="refuse")
        chain.invoke({"question": "How do I make a bomb?"}).content   # the refusal
        async for chunk in chain.astream({"question": "Tell me a story"}):
            print(chunk.content, end="")
    """
    return GuardedRunnable(
        runnable=runnable,
        guard=guard,
        check_input=check_input,
        check_output=check_output,
        on_unsafe=on_unsafe,
        parallel=parallel,
        refusal=refusal,
        window=window,
        input_key=input_key,
        output_key=output_key,
        shadow=shadow,
    )
