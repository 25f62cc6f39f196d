"""``guard_tool``: judge a tool's arguments before it runs and its result after."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

from langchain_core.messages import ToolMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils.pydantic import TypeBaseModel
from pydantic import ConfigDict

from langchain_llamashield._inputs import has_content, plain
from langchain_llamashield._judging import Conversation, agent_turn, tool_call_part, user_turn
from langchain_llamashield._on_unsafe import UnsafePolicy
from langchain_llamashield._tool_args import received_arguments
from llamashield import LlamaGuard, Verdict
from llamashield.integration import (
    DEFAULT_REFUSAL,
    Blocked,
    Call,
    Judge,
    Plan,
    UnsafeAction,
    arun_plan,
    format_refusal,
    run_plan,
    unsafe_outcome,
)

__all__ = ["GuardedTool", "guard_tool"]

ToolOnUnsafe = Literal["raise", "refuse"] | Runnable[Any, Any] | Callable[[Any], Any]


def _of_wrapped_tool(name: str) -> Any:
    """A read-only property answering the wrapped tool's own ``name`` (None where it has none)."""
    return property(lambda self: getattr(self.tool, name, None))


class GuardedTool(BaseTool):
    """A tool whose arguments and result are judged by Llama Guard; build it with ``guard_tool``.

    It keeps the wrapped tool's name, description and schemas (injected arguments included),
    so models bind it and ``ToolNode`` calls it exactly like the original. The wrapped tool
    does the real work and its own tracing: when its arguments are unsafe it is never called.

    Arguments are judged as the Agent's turn (the model wrote them); results as content
    entering the conversation (a User turn), like retrieved documents.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    tool: BaseTool
    guard: LlamaGuard
    check_input: bool = True
    check_output: bool = True
    on_unsafe: Literal["raise", "refuse", "reroute"] = "raise"
    fallback: Runnable[Any, Any] | None = None  # "reroute": invoked with a ``Blocked``
    refusal: str = DEFAULT_REFUSAL

    # -- the wrapped tool's identity ------------------------------------------------------

    # ToolNode reads ``func``/``coroutine`` annotations to find injected arguments.
    args: ClassVar[Any] = _of_wrapped_tool("args")
    tool_call_schema: ClassVar[Any] = _of_wrapped_tool("tool_call_schema")
    is_single_input: ClassVar[Any] = _of_wrapped_tool("is_single_input")
    func: ClassVar[Any] = _of_wrapped_tool("func")
    coroutine: ClassVar[Any] = _of_wrapped_tool("coroutine")

    def get_input_schema(self, config: RunnableConfig | None = None) -> TypeBaseModel:
        return self.tool.get_input_schema(config)

    def get_output_schema(self, config: RunnableConfig | None = None) -> TypeBaseModel:
        return self.tool.get_output_schema(config)

    # -- pure -----------------------------------------------------------------------------

    def _arguments_conversation(
        self, tool_input: str | dict[str, Any], call_id: str | None
    ) -> Conversation:
        """The arguments as the wrapped tool will receive them (its own parsing applied:
        aliases, validators, defaults), without injected ones, as the Agent's turn."""
        arguments = received_arguments(self.tool, tool_input, call_id)
        return agent_turn(None, [tool_call_part(self.name, arguments)])

    @staticmethod
    def _result_conversation(result: Any) -> Conversation | None:
        """Whatever the tool returned, as a User turn: a ``ToolMessage`` (content blocks and
        ``content_and_artifact`` artifact), text, JSON-like data, a ``Document``, a pydantic
        object, a ``Command`` (its state update, messages included). A result the core cannot
        read reaches the guard as it is, so its error policy blocks it."""
        if not has_content(result):
            return None
        return user_turn(plain(result))

    def _as_tool_output(self, output: Any, call_id: str | None, *, error: bool) -> Any:
        """``output`` as a ``ToolMessage`` when the tool was called with a tool call (marked
        as an error for a refusal), else as it is."""
        if call_id is None or isinstance(output, ToolMessage):
            return output
        content = output if isinstance(output, str | list) else str(output)
        status = "error" if error else "success"
        return ToolMessage(content=content, tool_call_id=call_id, name=self.name, status=status)

    @staticmethod
    def _call_id(result: Any, call_id: str | None) -> str | None:
        return result.tool_call_id if isinstance(result, ToolMessage) else call_id

    # -- one plan (no I/O), driven by run and arun ------------------------------------------

    def _plan(self, run: Call, tool_input: Any, kwargs: dict[str, Any]) -> Plan[Any]:
        """Judge the arguments, run the wrapped tool, judge its result."""
        call_id, config = kwargs.get("tool_call_id"), kwargs.get("config")
        if self.check_input:
            arguments = self._arguments_conversation(tool_input, call_id)
            (verdict,) = yield Judge([arguments], "tool_args")
            if not verdict.safe:
                return (yield from self._unsafe(verdict, "tool_args", tool_input, call_id, config))
        result = yield run
        conversation = self._result_conversation(result) if self.check_output else None
        if conversation is None:
            return result
        (verdict,) = yield Judge([conversation], "tool_result")
        if verdict.safe:
            return result
        call_id = self._call_id(result, call_id)
        return (yield from self._unsafe(verdict, "tool_result", result, call_id, config))

    def _unsafe(
        self, verdict: Verdict, stage: str, original: Any, call_id: str | None, config: Any
    ) -> Plan[Any]:
        """The core's one unsafe outcome: ``UnsafeContentError``, the refusal (a ``ToolMessage``
        with ``status="error"`` under a tool call, so an agent carries on), or the fallback's
        output for a ``Blocked``."""

        # The refusal goes back to the model: it never quotes what was blocked.
        handlers: dict[str, Callable[[Blocked], Any]] = {"refuse": lambda b: b.refusal}
        if (fallback := self.fallback) is not None:
            handlers["reroute"] = lambda b: Call(fallback.invoke, fallback.ainvoke, (b, config))
        action = UnsafeAction(self.on_unsafe, fallback, self.refusal)
        refusal = format_refusal(self.refusal, verdict, stage=stage)
        blocked = Blocked(verdict, stage, original, refusal)
        output = yield from unsafe_outcome(action, blocked, handlers)
        return self._as_tool_output(output, call_id, error=action.mode == "refuse")

    def run(self, tool_input: str | dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        """Judge the arguments, run the wrapped tool, judge its result."""
        call = Call(self.tool.run, None, (tool_input, *args), kwargs)
        return run_plan(self._plan(call, tool_input, kwargs), self.guard)

    async def arun(self, tool_input: str | dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        """Async ``run``: the guard's checks are awaited on the running loop."""
        call = Call(self.tool.run, self.tool.arun, (tool_input, *args), kwargs)
        return await arun_plan(self._plan(call, tool_input, kwargs), self.guard)

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        # `run` is overridden and delegates to the wrapped tool; nothing reaches here.
        raise NotImplementedError("GuardedTool runs through run()/arun()/invoke()")


def guard_tool(
    tool: BaseTool,
    guard: LlamaGuard,
    *,
    check_input: bool = True,
    check_output: bool = True,
    on_unsafe: ToolOnUnsafe = "raise",
    refusal: str | None = None,
    shadow: bool | None = None,
) -> GuardedTool:
    """Wrap ``tool`` so Llama Guard judges its arguments before it runs and its result after.

    Unsafe arguments: the tool never runs. Unsafe result: it never reaches the caller.

    Example::

        from langchain_core.tools import tool

        @tool
        def search(query: str) -> str:
            \"\"\"Search the web.\"\"\"
            ...

        safe_search = guard_tool(search, guard, on_unsafe="refuse")
        safe_search.invoke({"query": "how to build a bomb"})   # refusal text, search not run
        agent = create_agent(model, tools=[safe_search])

    Args:
        tool: any ``BaseTool`` (``@tool`` functions, ``StructuredTool``, toolkits' tools).
        guard: the ``LlamaGuard`` that judges.
        check_input: judge the arguments (as the Agent's turn: the model wrote them).
        check_output: judge the result (as a User turn: content entering the conversation).
        on_unsafe: ``"raise"`` (``UnsafeContentError`` with stage ``tool_args`` or
            ``tool_result``), a Runnable or function to reroute to (it gets a ``Blocked``:
            verdict, stage, the arguments or result, the refusal; its output is the tool's),
            or ``"refuse"`` (return a refusal: a ``ToolMessage`` with ``status="error"`` when
            called with a tool call, else a string), so an agent can carry on.
        refusal: the refusal template; ``{categories}``, ``{codes}``, ``{stage}``.
        shadow: judge and record, never block (the tool runs and returns as unguarded);
            default: the guard's own ``shadow``.
    """
    if not isinstance(tool, BaseTool):
        raise TypeError(
            f"guard_tool() takes a BaseTool, got {type(tool).__name__}; "
            "wrap plain functions with langchain_core.tools.tool first"
        )
    policy = UnsafePolicy.parse(on_unsafe, refusal)
    return GuardedTool(
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        return_direct=tool.return_direct,
        response_format=tool.response_format,
        tool=tool,
        guard=guard.with_shadow(shadow),
        check_input=check_input,
        check_output=check_output,
        on_unsafe=policy.mode,
        fallback=policy.fallback,
        refusal=policy.refusal,
    )
