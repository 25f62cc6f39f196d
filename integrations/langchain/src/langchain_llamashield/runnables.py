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

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from typing import Any, Literal, cast

from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
)
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import ensure_config, patch_config
from pydantic import BaseModel, ConfigDict, PrivateAttr

from langchain_llamashield._buffered_callbacks import CallbackBuffer, without_event_streams
from langchain_llamashield._child_callbacks import (
    acall_in,
    aiterate_in,
    call_in,
    iterate_in,
    refuse_attached_callbacks,
    without_live_tokens,
)
from langchain_llamashield._inputs import (
    answer_conversation,
    input_conversation,
    output_message,
    template_history,
)
from langchain_llamashield._on_unsafe import (
    OnUnsafe,
    UnsafePolicy,
    output_example,
    unsafe_plan,
)
from langchain_llamashield._parallel import finish, start
from langchain_llamashield._stream import (
    UnsafeStream,
    amerge_input,
    judge,
    merge_input,
    moderation,
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
from llamashield.integration import Call, Plan, arun_plan, run_plan
from llamashield.streaming import WindowSpec, amoderate_stream, moderate_stream

__all__ = ["GuardedRunnable", "LlamaGuardRunnable", "guard_runnable"]


class _GuardRunnableBase(RunnableSerializable[Any, Any]):
    """invoke/ainvoke and stream/astream/transform/atransform, traced, for both guard runnables.

    Subclasses implement ``_plan`` (one sans-I/O plan for ``invoke`` and ``ainvoke``) and
    ``_transform``/``_atransform``.
    """

    guard: LlamaGuard
    shadow: bool | None = None
    """Judge and record, never block (``LlamaGuard(shadow=)``); None: the guard's setting."""
    model_config = ConfigDict(arbitrary_types_allowed=True)

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self.guard = self.guard.with_shadow(self.shadow)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        config = ensure_config(config)
        if unwatched(config):  # nobody would see the run: skip making it
            return self._invoke(input, unwatched_run(), config, **kwargs)
        return self._call_with_config(self._invoke, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        config = ensure_config(config)
        if unwatched(config):  # nor its task: LangChain runs each traced call in a new one
            return await self._ainvoke(input, aunwatched_run(), config, **kwargs)
        return await self._acall_with_config(self._ainvoke, input, config, **kwargs)

    def _plan(
        self,
        value: Any,
        run_manager: CallbackManagerForChainRun | AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        kwargs: dict[str, Any],
    ) -> Plan[Any]:
        """What one call does (judge, call, decide), without I/O; subclasses define it."""
        raise NotImplementedError

    def _invoke(
        self,
        value: Any,
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Any:
        return run_plan(self._plan(value, run_manager, config, kwargs), self.guard)

    async def _ainvoke(
        self,
        value: Any,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Any:
        return await arun_plan(self._plan(value, run_manager, config, kwargs), self.guard)

    def _transform(
        self,
        chunks: Iterator[Any],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Iterator[Any]:
        raise NotImplementedError

    def _atransform(
        self,
        chunks: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        raise NotImplementedError

    def transform(
        self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        yield from self._transform_stream_with_config(input, self._transform, config, **kwargs)

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        return self.transform(iter([input]), config, **kwargs)

    async def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        async for chunk in self._atransform_stream_with_config(
            input, self._atransform, config, **kwargs
        ):
            yield chunk

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
    this replaces an unsafe answer), or a Runnable / callable that receives
    ``{"input": value, "verdict": verdict, "stage": stage}`` and whose result is returned.
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

    # -- invoke -----------------------------------------------------------------------------

    def _plan(
        self,
        value: Any,
        run_manager: CallbackManagerForChainRun | AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        kwargs: dict[str, Any],
    ) -> Plan[Any]:
        child = child_config(config, run_manager)
        check = judge(self.guard)
        verdict = yield Call(check.invoke, check.ainvoke, (self._conversation(value), child))
        if verdict.safe:
            return value
        return (yield from unsafe_plan(self._policy, verdict, self.stage, value, example=value,
                                       config=child))  # fmt: skip

    # -- streaming --------------------------------------------------------------------------

    def _transform(
        self,
        chunks: Iterator[Any],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Iterator[Any]:
        child = child_config(config, run_manager)
        if self.role == "user":
            yield self._invoke(merge_input(chunks), run_manager, config)
            return
        # An answer streaming through: release it window by window as it is judged.
        stream = moderate_stream(
            chunks, self.guard, **moderation([], key=self.input_key, window=self.window)
        )
        example: Any = ""
        for chunk in stream:
            example = chunk
            yield chunk
        if stream.blocked is not None:
            yield from UnsafeStream(
                self._policy, stream.blocked, "output", stream.text, example=example, config=child
            )

    async def _atransform(
        self,
        chunks: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        child = child_config(config, run_manager)
        if self.role == "user":
            yield await self._ainvoke(await amerge_input(chunks), run_manager, config)
            return
        stream = amoderate_stream(
            chunks, self.guard, **moderation([], key=self.input_key, window=self.window)
        )
        example: Any = ""
        async for chunk in stream:
            example = chunk
            yield chunk
        if stream.blocked is not None:
            async for chunk in UnsafeStream(
                self._policy, stream.blocked, "output", stream.text, example=example, config=child
            ):
                yield chunk


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

    def _context(self, value: Any) -> list[Any]:
        """The input as a conversation; for the output check only, an input with no text is
        fine (the answer is judged on its own)."""
        try:
            return input_conversation(value, key=self.input_key, history=self._history)
        except ValueError:
            if self.check_input:
                raise
            return []

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

    # -- invoke -----------------------------------------------------------------------------

    def _plan(
        self,
        value: Any,
        run_manager: CallbackManagerForChainRun | AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        kwargs: dict[str, Any],
    ) -> Plan[Any]:
        """Judge the input, call the wrapped runnable, judge its output."""
        child, inner = self._configs(config, run_manager)
        context = self._context(value)
        check = judge(self.guard)
        invoke: Callable[[], Any]
        ainvoke: Callable[[], Awaitable[Any]]
        if is_unwatched(run_manager):  # a plain call: no handler to keep away from its run
            bare = without_callbacks(inner)
            invoke = partial(self.runnable.invoke, value, bare, **kwargs)
            ainvoke = partial(self.runnable.ainvoke, value, bare, **kwargs)
        else:
            invoke = partial(call_in, inner, self.runnable.invoke, value, inner, **kwargs)

            def ainvoke() -> Awaitable[Any]:
                return acall_in(inner, self.runnable.ainvoke(value, inner, **kwargs))

        # The wrapped run's callback events wait for the verdicts (see _buffered_callbacks):
        # all of them for the input verdict when it runs beside the input check; those of
        # handlers acting on a run (listeners, a history writer) for the output verdict.
        with CallbackBuffer(self._holding(self._overlapped)) as buffer:
            if self._overlapped:
                judging = Call(check.invoke, check.ainvoke, (context, child))
                calling = Call(invoke, ainvoke)
                verdict, output = yield Call(_parallel, _aparallel, (judging, calling, buffer))
                if not verdict.safe:
                    return (yield from self._refuse(verdict, "input", value, child))
                if self.check_output:
                    yield Call(buffer.narrow, buffer.anarrow)
            else:
                if self.check_input:
                    verdict = yield Call(check.invoke, check.ainvoke, (context, child))
                    if not verdict.safe:
                        return (yield from self._refuse(verdict, "input", value, child))
                if self.check_output:
                    output = yield Call(partial(buffer.run, invoke), lambda: buffer.arun(ainvoke()))
                else:
                    output = yield Call(invoke, ainvoke)
            if self.check_output and (answer := self._answer(context, output)) is not None:
                # The check's run shows the answer as its input: only tracers may see it yet.
                checked = judge(self.guard, answer=True)
                verdict = yield Call(checked.invoke, checked.ainvoke, (answer, inner))
                if not verdict.safe:
                    buffer.drop()  # a refused answer: no listener hears of it, nothing remembers it
                    return (yield from self._refuse(verdict, "output", value, child, output))
            yield Call(buffer.release, buffer.arelease)
        return output

    def _example(self, output: Any = None) -> Any:
        return output_example(self.runnable) if output is None else output

    def _refuse(
        self, verdict: Verdict, stage: str, value: Any, config: RunnableConfig, output: Any = None
    ) -> Plan[Any]:
        return unsafe_plan(
            self._policy, verdict, stage, value, example=self._example(output), config=config
        )

    # -- streaming --------------------------------------------------------------------------

    def _transform(
        self,
        chunks: Iterator[Any],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Iterator[Any]:
        value = merge_input(chunks)
        child, inner = self._configs(config, run_manager)
        context = self._context(value)
        check = judge(self.guard)
        example = self._example()
        if self.check_input and not self.parallel:
            verdict = check.invoke(context, child)
            if not verdict.safe:
                yield from UnsafeStream(
                    self._policy, verdict, "input", value, example=example, config=child
                )
                return
        input_blocked: Verdict | None = None
        pending = start(check.invoke, context, child) if self._overlapped else None
        # The wrapped run's callback events wait for the verdicts, as in ``_plan``.
        buffer = CallbackBuffer(self._holding(pending is not None))

        def input_verdict() -> Verdict:
            nonlocal pending
            assert pending is not None
            verdict, pending = finish(pending, check.invoke, context, child), None
            if not verdict.safe:
                buffer.drop()
            elif self.check_output:
                buffer.narrow()
            else:
                buffer.release()
            return verdict

        def upstream_stream() -> Iterator[Any]:
            return iterate_in(inner, lambda: self.runnable.stream(value, inner, **kwargs))

        held = pending is not None or self.check_output
        upstream = buffer.iterate(upstream_stream) if held else upstream_stream()
        released = (
            moderate_stream(
                upstream, self.guard, **moderation(context, key=self.output_key, window=self.window)
            )
            if self.check_output
            else upstream
        )
        chunks_out = iter(released)
        with buffer:
            try:
                try:
                    for chunk in chunks_out:
                        # parallel: nothing leaves before the verdict
                        if pending is not None and not (verdict := input_verdict()).safe:
                            input_blocked = verdict
                            break
                        example = chunk
                        yield chunk
                except Exception:
                    # The wrapped stream failed before the verdict: as sequential mode would,
                    # its error on safe input, else the refusal.
                    if pending is None or (verdict := input_verdict()).safe:
                        raise
                    input_blocked = verdict
                if pending is not None and not (verdict := input_verdict()).safe:
                    input_blocked = verdict
            finally:
                if pending is not None:
                    pending.cancel()  # the stream was closed before the verdict was read
                close = getattr(chunks_out, "close", None)
                if close is not None:
                    close()  # stops the wrapped runnable's stream
            if not self._blocked(input_blocked, released):
                buffer.release()  # judged to its end, and safe (else: dropped here)
        yield from self._blocked_stream(input_blocked, released, value, example, child)

    async def _atransform(
        self,
        chunks: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        value = await amerge_input(chunks)
        child, inner = self._configs(config, run_manager)
        context = self._context(value)
        check = judge(self.guard)
        example = self._example()
        if self.check_input and not self.parallel:
            verdict = await check.ainvoke(context, child)
            if not verdict.safe:
                async for chunk in UnsafeStream(
                    self._policy, verdict, "input", value, example=example, config=child
                ):
                    yield chunk
                return
        pending = asyncio.ensure_future(check.ainvoke(context, child)) if self._overlapped else None
        # The wrapped run's callback events wait for the verdicts, as in ``_plan``.
        buffer = CallbackBuffer(self._holding(pending is not None))

        async def input_verdict() -> Verdict:
            nonlocal pending
            assert pending is not None
            verdict, pending = await pending, None
            if not verdict.safe:
                buffer.drop()
            elif self.check_output:
                await buffer.anarrow()
            else:
                await buffer.arelease()
            return verdict

        def upstream_stream() -> AsyncIterator[Any]:
            # Read in a task of its own (the moderated stream's reader, or the buffer's steps),
            # where the ambient config can be set.
            return aiterate_in(inner, lambda: self.runnable.astream(value, inner, **kwargs))

        if self.check_output:  # read by the moderated stream's reader task
            upstream = buffer.aiterate(upstream_stream, reader=True)
        elif pending is not None:  # read here: each step in a task of the buffer's
            upstream = buffer.aiterate(upstream_stream)
        else:
            upstream = self.runnable.astream(value, inner, **kwargs)
        released = (
            amoderate_stream(
                upstream, self.guard, **moderation(context, key=self.output_key, window=self.window)
            )
            if self.check_output
            else upstream
        )
        chunks_out = aiter(released)
        input_blocked: Verdict | None = None
        with buffer:
            try:
                try:
                    async for chunk in chunks_out:
                        # parallel: nothing leaves before the verdict
                        if pending is not None and not (verdict := await input_verdict()).safe:
                            input_blocked = verdict
                            break
                        example = chunk
                        yield chunk
                except Exception:
                    # The wrapped stream failed before the verdict: as sequential mode would,
                    # its error on safe input, else the refusal.
                    if pending is None or (verdict := await input_verdict()).safe:
                        raise
                    input_blocked = verdict
                if pending is not None and not (verdict := await input_verdict()).safe:
                    input_blocked = verdict
            finally:
                if pending is not None and not pending.done():
                    pending.cancel()
                    await asyncio.gather(pending, return_exceptions=True)
                aclose = getattr(chunks_out, "aclose", None)
                if aclose is not None:
                    await aclose()  # stops the wrapped runnable's stream
            if not self._blocked(input_blocked, released):
                await buffer.arelease()  # judged to its end, and safe (else: dropped here)
        for stage, verdict_or_none in self._blocked(input_blocked, released):
            async for chunk in UnsafeStream(
                self._policy, verdict_or_none, stage, value, example=example, config=child
            ):
                yield chunk

    @staticmethod
    def _blocked(input_blocked: Verdict | None, released: Any) -> list[tuple[str, Verdict]]:
        """The verdict that stopped a stream, with its stage (none when it ran to the end)."""
        if input_blocked is not None:
            return [("input", input_blocked)]
        output_blocked = getattr(released, "blocked", None)
        return [("output", output_blocked)] if output_blocked is not None else []

    def _blocked_stream(
        self,
        input_blocked: Verdict | None,
        released: Any,
        value: Any,
        example: Any,
        config: RunnableConfig,
    ) -> Iterator[Any]:
        for stage, verdict in self._blocked(input_blocked, released):
            yield from UnsafeStream(
                self._policy, verdict, stage, value, example=example, config=config
            )


def _parallel(check: Call, call: Call, buffer: CallbackBuffer) -> tuple[Verdict, Any]:
    """The input check (on the shared pool) and the wrapped call at once, the call's callback
    events held in ``buffer``: dropped on unsafe input, left held on safe input (the caller
    releases them). A call that fails is answered as sequential mode would: its error when the
    input is safe (its events released), else the unsafe input's outcome."""
    pending = start(check.sync, *check.args)
    try:
        output = buffer.run(call.sync)
    except Exception:
        verdict: Verdict = finish(pending, check.sync, *check.args)
        if verdict.safe:
            buffer.release()
            raise
        buffer.drop()
        return verdict, None
    except BaseException:
        pending.cancel()  # nothing will read it
        raise
    verdict = finish(pending, check.sync, *check.args)
    if not verdict.safe:
        buffer.drop()
        return verdict, None
    return verdict, output


async def _aparallel(check: Call, call: Call, buffer: CallbackBuffer) -> tuple[Verdict, Any]:
    """The input check and the wrapped call at once, as ``_parallel``; on unsafe input the call
    is cancelled."""
    assert check.async_ is not None and call.async_ is not None
    task = buffer.task(call.async_())
    try:
        verdict: Verdict = await check.async_(*check.args)
        if not verdict.safe:
            buffer.drop()
            return verdict, None
        try:
            output = await task
        except Exception:
            await buffer.arelease()  # a failed call's events: its input was safe
            raise
        return verdict, output
    finally:
        if not task.done():
            task.cancel()  # unsafe input (or a failed check): stop the wrapped call
            await asyncio.gather(task, return_exceptions=True)


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
    - ``on_unsafe``: ``"raise"`` (``UnsafeContentError`` with ``.verdict`` and ``.stage``
      ``"input"``/``"output"``), ``"refuse"`` (``refusal`` as the output's type: an
      ``AIMessage`` for chat models, a str for string chains; in a stream, one more chunk after
      what was released), or a Runnable/callable receiving
      ``{"input": original_input, "verdict": verdict, "stage": stage}`` whose output is returned.
    - ``parallel=True`` runs the input check concurrently with the wrapped call, every call
      (``invoke``, ``ainvoke``, streams), hiding the guard's latency. The wrapped runnable
      therefore runs on every input, unsafe ones included: nothing it returns or streams is
      released before the input verdict, and nothing of its run reaches a callback before
      it either. Its callback events (tokens, ``on_llm_end``, chain ends, tracers, listeners
      inside it such as ``RunnableWithMessageHistory``'s history writer) are held and
      replayed after a safe verdict; after an unsafe one they are dropped, the result is
      discarded (an async call is cancelled) and the refused exchange is never remembered.
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
