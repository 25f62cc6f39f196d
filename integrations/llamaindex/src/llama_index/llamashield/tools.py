"""``guard_tool``: Llama Guard on an agent tool's arguments and result."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any, Literal

from llama_index.core.tools import AsyncBaseTool, BaseTool, FunctionTool, ToolMetadata, ToolOutput
from llama_index.llamashield._common import DEFAULT_REFUSAL, check_guard
from llama_index.llamashield._convert import (
    has_content,
    plain,
    readable_text,
    tool_output_content,
)

from llamashield import LlamaGuard, UnsafeContentError, Verdict

__all__ = ["GuardedTool", "guard_tool"]

ToolFallback = Callable[[str, UnsafeContentError], "str | ToolOutput"]
ToolOnUnsafe = Literal["raise", "refuse"] | ToolFallback


def guard_tool(
    tool: BaseTool,
    guard: LlamaGuard,
    *,
    check_input: bool = True,
    check_output: bool = True,
    on_unsafe: ToolOnUnsafe = "raise",
    refusal: str = DEFAULT_REFUSAL,
) -> AsyncBaseTool:
    """Wrap ``tool`` so that Llama Guard judges its arguments and its result.

    Unsafe arguments never run the tool. An unsafe result never reaches the caller: under
    ``"refuse"`` both ``content`` and ``raw_output`` are replaced (a ``FunctionTool`` callback
    can only replace ``content``), and the output is marked ``is_error``. Under ``"raise"``
    (the default) an agent turns the ``UnsafeContentError`` into an error tool output whose
    text names the categories, never the unsafe content. The arguments are judged as a User
    message; the result as the Agent's reply to them.

    A ``FunctionTool`` stays a ``FunctionTool`` (agents still inject a workflow ``Context``).

    Example::

        from llama_index.core.agent.workflow import FunctionAgent
        from llama_index.llamashield import guard_tool

        agent = FunctionAgent(tools=[guard_tool(search_tool, guard)], llm=llm)

    Args:
        on_unsafe: ``"raise"``, ``"refuse"``, or a callable ``(text, UnsafeContentError) ->
            str | ToolOutput`` giving the output to return instead.
    """
    check_guard(guard)
    named = on_unsafe in ("raise", "refuse")
    if not named and (isinstance(on_unsafe, str) or not callable(on_unsafe)):
        raise ValueError(f"on_unsafe must be 'raise', 'refuse' or a callable, got {on_unsafe!r}")
    shield = _ToolShield(guard, check_input, check_output, on_unsafe, refusal)
    if isinstance(tool, FunctionTool):
        return GuardedFunctionTool(tool, shield)
    if isinstance(tool, BaseTool):
        return GuardedTool(tool, shield)
    raise TypeError(f"guard_tool() takes a LlamaIndex BaseTool, got {type(tool).__name__}")


class _ToolShield:
    """The decisions both wrappers share; only the guard calls differ between sync and async."""

    def __init__(
        self,
        guard: LlamaGuard,
        check_input: bool,
        check_output: bool,
        on_unsafe: ToolOnUnsafe,
        refusal: str,
    ) -> None:
        self.guard = guard
        self.check_input = check_input
        self.check_output = check_output
        self.on_unsafe = on_unsafe
        self.refusal = refusal

    @staticmethod
    def arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The arguments as content for the core: a lone string as it is, else every argument
        (nested values, documents, pydantic objects included) in one dict."""
        if not kwargs and len(args) == 1 and isinstance(args[0], str):
            return args[0]
        if not args and len(kwargs) == 1 and isinstance(next(iter(kwargs.values())), str):
            return str(next(iter(kwargs.values())))
        return plain({**({"args": list(args)} if args else {}), **kwargs})

    @staticmethod
    def output_turn(arguments: Any, output: ToolOutput) -> list[dict[str, Any]]:
        """The output (every block, and a raw output beyond them) as the reply to the call."""
        return [
            {"role": "user", "content": arguments},
            {"role": "assistant", "content": tool_output_content(output)},
        ]

    def blocked(
        self, name: str, arguments: Any, verdict: Verdict, stage: str, raw_input: dict[str, Any]
    ) -> ToolOutput:
        error = UnsafeContentError(verdict, stage)
        if self.on_unsafe == "raise":
            raise error
        if self.on_unsafe == "refuse":
            replacement: Any = self.refusal
        else:
            replacement = self.on_unsafe(readable_text(arguments), error)
        if isinstance(replacement, ToolOutput):
            return replacement
        text = str(replacement)
        return ToolOutput(
            tool_name=name,
            content=text,
            raw_input=raw_input,
            raw_output=text,
            is_error=True,
            exception=error,
        )


class GuardedTool(AsyncBaseTool):
    """Any ``BaseTool`` guarded by ``guard_tool`` (see there)."""

    def __init__(self, tool: BaseTool, shield: _ToolShield) -> None:
        self._tool = tool
        self._shield = shield

    @property
    def metadata(self) -> ToolMetadata:
        return self._tool.metadata

    @property
    def tool(self) -> BaseTool:
        return self._tool

    def call(self, *args: Any, **kwargs: Any) -> ToolOutput:
        return _guarded_call(self._shield, self.metadata.get_name(), _sync_runner(self._tool),
                             args, kwargs)  # fmt: skip

    async def acall(self, *args: Any, **kwargs: Any) -> ToolOutput:
        return await _aguarded_call(
            self._shield, self.metadata.get_name(), _async_runner(self._tool), args, kwargs
        )


class GuardedFunctionTool(FunctionTool):
    """A ``FunctionTool`` guarded by ``guard_tool``; keeps Context injection working."""

    def __init__(self, tool: FunctionTool, shield: _ToolShield) -> None:
        super().__init__(fn=tool.real_fn, metadata=tool.metadata)
        # The inner tool applies its own partial params and defaults; none are applied twice.
        self.partial_params = {}
        self._field_defaults = {}
        self.requires_context = tool.requires_context
        self.ctx_param_name = tool.ctx_param_name
        self._tool = tool
        self._shield = shield
        # FunctionTool exposes the function it runs as ``fn``/``async_fn``/``real_fn``, and
        # other code (``to_langchain_tool``, custom agents) calls them directly: here they run
        # the guarded call, so no path around the guard is left (issue 10, item 11).
        real = tool.real_fn

        @functools.wraps(real)
        def guarded_fn(*args: Any, **kwargs: Any) -> Any:
            return self.call(*args, **kwargs).raw_output

        @functools.wraps(real)
        async def guarded_async_fn(*args: Any, **kwargs: Any) -> Any:
            return (await self.acall(*args, **kwargs)).raw_output

        self._fn = guarded_fn
        self._async_fn = guarded_async_fn
        self._real_fn = guarded_async_fn if inspect.iscoroutinefunction(real) else guarded_fn

    @property
    def tool(self) -> FunctionTool:
        """The wrapped tool itself: calling it (or its ``fn``) is NOT guarded."""
        return self._tool

    def call(self, *args: Any, **kwargs: Any) -> ToolOutput:
        return _guarded_call(
            self._shield, self.metadata.get_name(), self._tool.call, args, kwargs,
            skip=self.ctx_param_name,
        )  # fmt: skip

    async def acall(self, *args: Any, **kwargs: Any) -> ToolOutput:
        return await _aguarded_call(
            self._shield, self.metadata.get_name(), self._tool.acall, args, kwargs,
            skip=self.ctx_param_name,
        )  # fmt: skip


def _sync_runner(tool: BaseTool) -> Callable[..., ToolOutput]:
    return tool.call if isinstance(tool, AsyncBaseTool) else tool


def _async_runner(tool: BaseTool) -> Callable[..., Any]:
    if isinstance(tool, AsyncBaseTool):
        return tool.acall

    async def run(*args: Any, **kwargs: Any) -> ToolOutput:
        return await asyncio.to_thread(tool, *args, **kwargs)

    return run


def _judged_kwargs(kwargs: dict[str, Any], skip: str | None) -> dict[str, Any]:
    # A workflow Context is plumbing, not content.
    return {k: v for k, v in kwargs.items() if k != skip}


def _guarded_call(
    shield: _ToolShield,
    name: str,
    run: Callable[..., ToolOutput],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    skip: str | None = None,
) -> ToolOutput:
    judged = _judged_kwargs(kwargs, skip)
    arguments = shield.arguments(args, judged)
    raw_input = {"args": args, "kwargs": judged}
    if shield.check_input:
        verdict = shield.guard.check(arguments)
        if not verdict.safe:
            return shield.blocked(name, arguments, verdict, "tool_input", raw_input)
    output = run(*args, **kwargs)
    if shield.check_output and has_content(output):
        verdict = shield.guard.check(shield.output_turn(arguments, output))
        if not verdict.safe:
            return shield.blocked(name, arguments, verdict, "tool_output", raw_input)
    return output


async def _aguarded_call(
    shield: _ToolShield,
    name: str,
    run: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    skip: str | None = None,
) -> ToolOutput:
    judged = _judged_kwargs(kwargs, skip)
    arguments = shield.arguments(args, judged)
    raw_input = {"args": args, "kwargs": judged}
    if shield.check_input:
        verdict = await shield.guard.acheck(arguments)
        if not verdict.safe:
            return shield.blocked(name, arguments, verdict, "tool_input", raw_input)
    output: ToolOutput = await run(*args, **kwargs)
    if shield.check_output and has_content(output):
        verdict = await shield.guard.acheck(shield.output_turn(arguments, output))
        if not verdict.safe:
            return shield.blocked(name, arguments, verdict, "tool_output", raw_input)
    return output
