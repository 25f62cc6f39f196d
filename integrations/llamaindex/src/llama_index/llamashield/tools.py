"""``guard_tool``: Llama Guard on an agent tool's arguments and result."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from llama_index.core.tools import AsyncBaseTool, BaseTool, FunctionTool, ToolMetadata, ToolOutput
from llama_index.llamashield._compat import clear_field_defaults
from llama_index.llamashield._inputs import has_content, plain, tool_output_content
from llama_index.llamashield._on_unsafe import Shield

from llamashield import LlamaGuard, UnsafeContentError, Verdict
from llamashield.integration import Blocked, Call, Judge, Plan, arun_plan, run_plan, unsafe_outcome

__all__ = ["GuardedFunctionTool", "GuardedTool", "guard_tool"]

ToolFallback = Callable[[Blocked], "str | ToolOutput"]
ToolOnUnsafe = Literal["raise", "refuse"] | ToolFallback


def guard_tool(
    tool: BaseTool,
    guard: LlamaGuard,
    *,
    check_input: bool = True,
    check_output: bool = True,
    on_unsafe: ToolOnUnsafe = "raise",
    refusal: str | None = None,
    shadow: bool | None = None,
) -> AsyncBaseTool:
    """Wrap ``tool`` so that Llama Guard judges its arguments and its result.

    Unsafe arguments never run the tool. An unsafe result never reaches the caller: under
    ``"refuse"`` both ``content`` and ``raw_output`` are replaced (a ``FunctionTool`` callback
    can only replace ``content``), and the output is marked ``is_error``. Under ``"raise"``
    (the default) an agent turns the ``UnsafeContentError`` into an error tool output whose
    text names the categories, never the unsafe content. The arguments are judged as the
    Agent's turn (the model wrote them, stage ``tool_args``); the result as a User turn
    (content entering the conversation, like a retrieved document; stage ``tool_result``),
    as in the LangChain adapter.

    A ``FunctionTool`` stays a ``FunctionTool`` (agents still inject a workflow ``Context``).

    Example::

        from llama_index.core.agent.workflow import FunctionAgent
        from llama_index.llamashield import guard_tool

        agent = FunctionAgent(tools=[guard_tool(search_tool, guard)], llm=llm)

    Args:
        on_unsafe: ``"raise"``, ``"refuse"``, or a callable receiving a ``Blocked`` (verdict,
            stage, the arguments or output, the refusal) and returning the output
            (``str | ToolOutput``) to give instead.
        refusal: the refusal template (``{categories}``, ``{codes}``, ``{stage}``).
        shadow: judge and record, never block (every verdict is recorded with ``would_block``,
            nothing is refused, rerouted or raised, a failing guard fails nothing); default:
            the guard's own ``shadow``.
    """
    shield = Shield.build(
        guard, on_unsafe=on_unsafe, refusal=refusal, shadow=shadow, check_input=check_input,
        check_output=check_output,
    )  # fmt: skip
    if isinstance(tool, FunctionTool):
        return GuardedFunctionTool(tool, shield)
    if isinstance(tool, BaseTool):
        return GuardedTool(tool, shield)
    raise TypeError(f"guard_tool() takes a LlamaIndex BaseTool, got {type(tool).__name__}")


class _GuardedCalls:
    """``call``/``acall`` of both guarded tool classes: one plan, driven sync and async."""

    _shield: Shield

    if TYPE_CHECKING:

        @property
        def metadata(self) -> ToolMetadata: ...

    @property
    def _context_param(self) -> str | None:
        """The argument an agent injects a workflow ``Context`` into: plumbing, not content."""
        return None

    def _runner(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        """The wrapped tool's call, as a sync/async pair."""
        raise NotImplementedError

    def call(self, *args: Any, **kwargs: Any) -> ToolOutput:
        output: ToolOutput = run_plan(self._plan(args, kwargs), self._shield.guard)
        return output

    async def acall(self, *args: Any, **kwargs: Any) -> ToolOutput:
        output: ToolOutput = await arun_plan(self._plan(args, kwargs), self._shield.guard)
        return output

    def _plan(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Plan[ToolOutput]:
        judged = {k: v for k, v in kwargs.items() if k != self._context_param}
        arguments = tool_arguments(args, judged)
        raw_input = {"args": args, "kwargs": judged}
        name = self.metadata.get_name()
        if self._shield.check_input:
            (verdict,) = yield Judge([tool_call_turn(name, arguments)], "tool_args")
            if not verdict.safe:
                return (yield from self._unsafe(name, arguments, verdict, "tool_args", raw_input))
        output: ToolOutput = yield self._runner(args, kwargs)
        if self._shield.check_output and has_content(output):
            (verdict,) = yield Judge([_output_turn(output)], "tool_result")
            if not verdict.safe:
                return (yield from self._unsafe(name, output, verdict, "tool_result", raw_input))
        return output

    def _unsafe(
        self, name: str, content: Any, verdict: Verdict, stage: str, raw_input: dict[str, Any]
    ) -> Plan[ToolOutput]:
        """The core's unsafe outcome: raise, or an error output with the refusal (or what the
        fallback gave instead)."""
        blocked = self._shield.blocked(verdict, stage, content)
        on_unsafe = self._shield.handlers(lambda b: b.refusal)
        replacement = yield from unsafe_outcome(self._shield.action, blocked, on_unsafe)
        if isinstance(replacement, ToolOutput):
            return replacement
        text = str(replacement)
        error = UnsafeContentError(verdict, stage)
        return ToolOutput(tool_name=name, content=text, raw_input=raw_input, raw_output=text,
                          is_error=True, exception=error)  # fmt: skip


def tool_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The arguments as content for the core: a lone string as it is, else every argument
    (nested values, documents, pydantic objects included) in one dict."""
    if not kwargs and len(args) == 1 and isinstance(args[0], str):
        return args[0]
    if not args and len(kwargs) == 1 and isinstance(next(iter(kwargs.values())), str):
        return str(next(iter(kwargs.values())))
    return plain({**({"args": list(args)} if args else {}), **kwargs})


def tool_call_turn(name: str, arguments: Any) -> list[dict[str, Any]]:
    """The call as the Agent's turn: the model wrote its name and arguments."""
    part = {"type": "tool_call", "name": name, "args": arguments}
    return [{"role": "user", "content": ""}, {"role": "assistant", "content": [part]}]


def _output_turn(output: ToolOutput) -> list[dict[str, Any]]:
    """The output (every block, and a raw output beyond them) as a User turn: content
    entering the conversation."""
    return [{"role": "user", "content": tool_output_content(output)}]


class GuardedTool(_GuardedCalls, AsyncBaseTool):
    """Any ``BaseTool`` guarded by ``guard_tool`` (see there)."""

    def __init__(self, tool: BaseTool, shield: Shield) -> None:
        self._tool = tool
        self._shield = shield

    @property
    def metadata(self) -> ToolMetadata:
        return self._tool.metadata

    @property
    def tool(self) -> BaseTool:
        return self._tool

    def _runner(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        return Call(_sync_runner(self._tool), _async_runner(self._tool), args, kwargs)


class GuardedFunctionTool(_GuardedCalls, FunctionTool):
    """A ``FunctionTool`` guarded by ``guard_tool``; keeps Context injection working."""

    def __init__(self, tool: FunctionTool, shield: Shield) -> None:
        super().__init__(fn=tool.real_fn, metadata=tool.metadata)
        # The inner tool applies its own partial params and defaults; none are applied twice.
        self.partial_params = {}
        clear_field_defaults(self)
        self.requires_context = tool.requires_context
        self.ctx_param_name = tool.ctx_param_name
        self._tool = tool
        self._shield = shield
        # FunctionTool exposes the function it runs as ``fn``/``async_fn``/``real_fn``, and
        # other code (``to_langchain_tool``, custom agents) calls them directly: here they run
        # the guarded call, so no path around the guard is left.
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

    @property
    def _context_param(self) -> str | None:
        return self.ctx_param_name

    def _runner(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        return Call(self._tool.call, self._tool.acall, args, kwargs)


def _sync_runner(tool: BaseTool) -> Callable[..., ToolOutput]:
    return tool.call if isinstance(tool, AsyncBaseTool) else tool


def _async_runner(tool: BaseTool) -> Callable[..., Any]:
    if isinstance(tool, AsyncBaseTool):
        return tool.acall

    async def run(*args: Any, **kwargs: Any) -> ToolOutput:
        return await asyncio.to_thread(tool, *args, **kwargs)

    return run
