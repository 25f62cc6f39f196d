"""Llama Guard in Workflows: a guard step for your own workflows, and guarded agent runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar, cast

from llama_index.core.agent.workflow import (
    AgentOutput,
    AgentWorkflow,
    BaseWorkflowAgent,
    ToolCall,
    ToolCallResult,
)
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.bridge.pydantic import Field
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.memory import BaseMemory
from llama_index.core.tools import BaseTool, FunctionTool
from llama_index.core.workflow import (
    Context,
    Event,
    StartEvent,
    StopEvent,
    Workflow,
    step,
)
from llama_index.llamashield._inputs import (
    has_content,
    message_dict,
    messages_conversation,
    plain,
    readable_text,
)
from llama_index.llamashield._judging import agent_turn, check_guard
from llama_index.llamashield._memory import memory_read
from llama_index.llamashield._on_unsafe import Shield
from llama_index.llamashield.tools import guard_tool, tool_arguments, tool_call_turn

from llamashield import LlamaGuard, Verdict
from llamashield.integration import (
    Blocked,
    Call,
    Judge,
    JudgeConversation,
    Plan,
    arun_plan,
    unsafe_outcome,
    verdict_metadata,
)

__all__ = [
    "Blocked",
    "GuardedAgent",
    "GuardedWorkflow",
    "SafeInputEvent",
    "guard_agent",
]

E = TypeVar("E", bound=Event)
# A tool call the consumer sees: streamed events, and ``AgentOutput.tool_calls`` (typed as
# ``ToolSelection``s, filled with ``ToolCallResult``s by the agents).
T = TypeVar("T", bound=ToolCall | ToolCallResult | ToolSelection)


class SafeInputEvent(Event):
    """The workflow's input, judged safe; ``start`` is the original ``StartEvent``."""

    input: str
    verdict: Verdict
    start: StartEvent


class GuardedWorkflow(Workflow):
    """A ``Workflow`` whose input Llama Guard judges before any of your steps run.

    Its ``guard_input`` step takes the ``StartEvent`` and sends ``SafeInputEvent`` on to your
    steps; an unsafe input raises ``UnsafeContentError`` (``on_unsafe="raise"``, the default)
    or, with ``on_unsafe="refuse"``, ends the run with ``StopEvent(result=Blocked(...))``
    (``llamashield.Blocked``: the verdict, the stage, the content, the refusal; ``str()`` is
    the refusal; a refused answer's ``content`` is ``None``, so the run hands none of it on).
    Your last
    step can end with ``await self.checked_stop(question, answer)`` to have the answer judged
    too (the same StopEvent or refusal), or with a ``StopEvent`` of its own. The input is
    ``StartEvent[input_key]`` (``"query"`` by default). Workflows allow one StopEvent type, so
    the steps must end with a plain ``StopEvent``, not a subclass.

    Example::

        class RAG(GuardedWorkflow):
            @step
            async def answer(self, ev: SafeInputEvent) -> StopEvent:
                response = await engine.aquery(ev.input)
                return await self.checked_stop(ev.input, str(response))

        result = await RAG(guard=guard, on_unsafe="refuse").run(query="How do I make a bomb?")
        isinstance(result, Blocked)        # True: the engine never ran
    """

    input_key: str = "query"

    def __init__(
        self,
        *args: Any,
        guard: LlamaGuard,
        on_unsafe: Literal["raise", "refuse"] = "raise",
        refusal: str | None = None,
        shadow: bool | None = None,
        **kwargs: Any,
    ) -> None:
        shield = Shield.build(guard, on_unsafe=on_unsafe, refusal=refusal, shadow=shadow,
                              reroute=False)  # fmt: skip
        super().__init__(*args, **kwargs)
        self._shield = shield
        self.guard = shield.guard  # shadow: never stops the run
        self.on_unsafe = shield.action.mode
        self.refusal = shield.refusal

    @step
    async def guard_input(self, ev: StartEvent) -> SafeInputEvent | StopEvent:
        text = ev.get(self.input_key)
        if not isinstance(text, str):
            raise ValueError(
                f"{type(self).__name__} judges StartEvent[{self.input_key!r}]: run it with "
                f"{self.input_key}='...' or set input_key on the class"
            )

        def safe(verdict: Verdict) -> SafeInputEvent:
            return SafeInputEvent(input=text, verdict=verdict, start=ev)

        return await arun_plan(self._judged(text, text, "input", safe), self.guard)

    async def checked_stop(self, question: str, answer: str) -> StopEvent:
        """End the run with ``answer`` if Llama Guard judges it safe after ``question``."""
        judged = self._judged(agent_turn(question, answer), answer, "output",
                              lambda _: StopEvent(result=answer))  # fmt: skip
        return cast("StopEvent", await arun_plan(judged, self.guard))

    def _judged(
        self, conversation: Any, content: Any, stage: str, safe: Callable[[Verdict], E]
    ) -> Plan[E | StopEvent]:
        """``safe(verdict)`` when judged safe; else raise, or stop with the ``Blocked``."""
        (verdict,) = yield Judge([conversation], stage)
        if verdict.safe:
            return safe(verdict)
        refuse = {"refuse": lambda blocked: StopEvent(result=_for_consumer(blocked))}
        blocked = self._shield.blocked(verdict, stage, content)
        stop: StopEvent = yield from unsafe_outcome(self._shield.action, blocked, refuse)
        return stop


def _for_consumer(blocked: Blocked) -> Blocked:
    """The ``Blocked`` a refused run ends with: it goes to the run's consumer, so a refused
    answer's content is left out (``None``); a blocked input keeps the caller's own question."""
    return blocked if blocked.stage == "input" else dataclasses.replace(blocked, content=None)


# -- agents -------------------------------------------------------------------------------

AgentLike = BaseWorkflowAgent | AgentWorkflow


def guard_agent(
    agent: AgentLike,
    guard: LlamaGuard,
    *,
    check_input: bool = True,
    check_output: bool = True,
    guard_tools: bool = True,
    on_unsafe: Literal["raise", "refuse"] = "raise",
    refusal: str | None = None,
    shadow: bool | None = None,
) -> GuardedAgent:
    """Guard a ``FunctionAgent``/``ReActAgent``/``AgentWorkflow``: input, tools, final answer.

    With ``guard_tools`` every tool of the agent (of every agent of an ``AgentWorkflow``) is
    wrapped with ``guard_tool`` **in place**, so unsafe tool arguments never run a tool and
    unsafe tool results never reach the model. See ``GuardedAgent`` for the run itself.

    Example::

        agent = guard_agent(FunctionAgent(tools=[search], llm=llm), guard, on_unsafe="refuse")
        output = await agent.run(user_msg="How do I make a bomb?")
        str(output.response.content)         # the refusal; the agent's LLM never ran
    """
    guard = check_guard(guard, shadow)  # shadow: the agent and its tools run as unguarded
    if not isinstance(agent, BaseWorkflowAgent | AgentWorkflow):
        raise TypeError(
            f"guard_agent() takes a FunctionAgent, ReActAgent, CodeActAgent or AgentWorkflow, "
            f"got {type(agent).__name__}"
        )
    guarded = GuardedAgent(agent, guard, check_input, check_output, on_unsafe, refusal)
    if guard_tools:
        agents = agent.agents.values() if isinstance(agent, AgentWorkflow) else [agent]
        for member in agents:
            if member.tools:
                member.tools = _guarded_tools(member.tools, guard)
    return guarded


def _guarded_tools(tools: Sequence[Any], guard: LlamaGuard) -> list[Any]:
    from llama_index.llamashield.tools import GuardedFunctionTool, GuardedTool

    guarded: list[Any] = []
    for tool in tools:
        if isinstance(tool, GuardedTool | GuardedFunctionTool):
            guarded.append(tool)
            continue
        if not isinstance(tool, BaseTool):
            tool = FunctionTool.from_defaults(fn=tool)
        # "raise": the agent turns the error into a tool output naming the categories only.
        guarded.append(guard_tool(tool, guard))
    return guarded


class GuardedAgent:
    """An agent run with Llama Guard on its input and its final answer.

    ``run(...)`` takes the agent's own arguments and returns a ``WorkflowHandler``: ``await``
    it for the ``AgentOutput``. An unsafe user message ends the run before the agent's LLM is
    called; an unsafe final answer raises ``UnsafeContentError`` (``on_unsafe="raise"``, the
    default) or is replaced by the refusal (``"refuse"``).
    ``output.response.additional_kwargs["llamashield"]`` holds the verdicts' JSON-ready
    records. ``handler.stream_events()`` relays ``ToolCall``/``ToolCallResult`` events (their
    arguments judged first, as the guarded tools judge them, and left out when unsafe, as in
    ``output.tool_calls``) and the judged ``AgentOutput``; token deltas (``AgentStream``) are
    not relayed, since they would show the answer before it is judged. When the run was given
    ``memory=``, a blocked answer is taken back out of it (state kept in a reused ``ctx`` is
    not rolled back). Build it with ``guard_agent``.
    """

    def __init__(
        self,
        agent: AgentLike,
        guard: LlamaGuard,
        check_input: bool,
        check_output: bool,
        on_unsafe: Literal["refuse", "raise"],
        refusal: str | None,
    ) -> None:
        self.agent = agent
        self.shield = Shield.build(guard, on_unsafe=on_unsafe, refusal=refusal,
                                   check_input=check_input, check_output=check_output,
                                   reroute=False)  # fmt: skip

    @property
    def guard(self) -> LlamaGuard:
        return self.shield.guard

    def run(self, user_msg: str | ChatMessage | None = None, **kwargs: Any) -> Any:
        """Run the agent; arguments as the agent's ``run`` (``chat_history``, ``memory``, ...)."""
        # A fresh workflow per run: the agent's arguments live on it, never on this object.
        runner = _AgentRun(self, kwargs, timeout=None)
        return runner.run(user_msg=user_msg)

    # -- the run's judgments, as plans (driven by _AgentRun's steps) -----------------------

    def _input_plan(
        self, user_msg: Any, agent_kwargs: dict[str, Any]
    ) -> Plan[_RunAgent | StopEvent]:
        """Everything the agent's LLM reads from outside: the history (``chat_history``; the
        memory the caller passed in, as the agent reads it with the new message, blocks
        included) and the new message. The question may be only in the history
        (``agent.run(chat_history=[...])`` with no ``user_msg``)."""
        text = readable_text(user_msg)
        history = agent_kwargs.get("chat_history")
        memory = agent_kwargs.get("memory")
        before: list[ChatMessage] | None = None
        if isinstance(memory, BaseMemory):
            before, history = yield from memory_read(memory, history, text)
        conversation = messages_conversation(history or [])
        if has_content(user_msg):
            conversation.append(message_dict(user_msg, "user"))
        asked = conversation if any(has_content(t["content"]) for t in conversation) else []
        run = _RunAgent(user_msg=user_msg, text=text, context=asked, before=before)
        if not (self.shield.check_input and asked):
            return run
        verdict = yield JudgeConversation(asked)
        if not verdict.safe:
            if isinstance(memory, BaseMemory) and agent_kwargs.get("chat_history"):
                # Reading it set the memory to the refused history: put the memory back.
                yield Call(memory.set, memory.aset, (before,))
            return (yield from self._unsafe({"input": verdict}, "input", user_msg))
        run.input_verdict = verdict
        return run

    def _output_plan(self, ev: _RunAgent, output: AgentOutput, memory: Any) -> Plan[StopEvent]:
        """Judge every block of the answer (thinking, tool calls) and a structured response,
        after what the agent was asked."""
        verdicts = {"input": ev.input_verdict} if ev.input_verdict is not None else {}
        answer = [message_dict(output.response)["content"], plain(output.structured_response)]
        if self.shield.check_output and has_content(answer):
            judged = [*ev.context, {"role": "assistant", "content": answer}]
            verdict = yield JudgeConversation(judged, trusted=range(len(ev.context)))
            verdicts["output"] = verdict
            if not verdict.safe:
                if ev.before is not None:
                    # The blocked exchange leaves no trace in a memory the caller passed in.
                    yield Call(memory.set, memory.aset, (ev.before,))
                return (yield from self._unsafe(verdicts, "output", answer))
        output.response.additional_kwargs["llamashield"] = _records(verdicts)
        return StopEvent(result=output)

    def _tool_call_plan(self, call: T, judged: dict[str, bool]) -> Plan[T]:
        """A tool call as the consumer may see it: its arguments (the Agent's words, shown
        before any tool judges them) judged as the guarded tool judges them, once per call
        (``judged``: by call), and left out of the ``ToolCall``/``ToolCallResult`` when unsafe
        (a guarded tool's output is then its refusal)."""
        if not self.shield.check_output:
            return call
        key = repr((call.tool_id, call.tool_name, call.tool_kwargs))
        if key not in judged:
            arguments = tool_arguments((), call.tool_kwargs)
            (verdict,) = yield Judge([tool_call_turn(call.tool_name, arguments)], "tool_args")
            judged[key] = verdict.safe
        return call if judged[key] else _without_arguments(call)

    def _unsafe(self, verdicts: dict[str, Verdict], stage: str, content: Any) -> Plan[StopEvent]:
        """The core's unsafe outcome: raise, or end the run with the refusal as its answer."""

        def refuse(blocked: Blocked) -> StopEvent:
            message = _refusal_message(blocked.refusal, verdicts)
            return StopEvent(result=AgentOutput(response=message, current_agent_name=self._name()))

        blocked = self.shield.blocked(verdicts[stage], stage, content)
        stop: StopEvent = yield from unsafe_outcome(self.shield.action, blocked, {"refuse": refuse})
        return stop

    def _name(self) -> str:
        agent = self.agent
        return agent.root_agent if isinstance(agent, AgentWorkflow) else agent.name


class _RunAgent(Event):
    user_msg: Any
    text: str
    context: list[Any] = Field(default_factory=list)
    input_verdict: Verdict | None = None
    before: list[ChatMessage] | None = None  # the memory passed in, as it was before the run


class _AgentRun(Workflow):
    """One guarded agent run: judge the input, run the agent, judge its answer."""

    def __init__(self, shield: GuardedAgent, agent_kwargs: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shield = shield
        self.agent_kwargs = agent_kwargs

    @step
    async def check_input(self, ev: StartEvent) -> _RunAgent | StopEvent:
        plan = self.shield._input_plan(ev.get("user_msg"), self.agent_kwargs)
        return await arun_plan(plan, self.shield.guard)

    @step
    async def run_agent(self, ctx: Context, ev: _RunAgent) -> StopEvent:
        memory = self.agent_kwargs.get("memory")
        guard = self.shield.guard
        judged: dict[str, bool] = {}  # tool calls whose arguments were judged: safe or not
        handler = self.shield.agent.run(user_msg=ev.user_msg, **self.agent_kwargs)
        async for event in handler.stream_events():
            # Tool calls are relayed with their arguments judged; the answer is judged below.
            if isinstance(event, ToolCall | ToolCallResult):
                relayed = await arun_plan(self.shield._tool_call_plan(event, judged), guard)
                ctx.write_event_to_stream(relayed)
        output: AgentOutput = await handler
        output.tool_calls = [
            await arun_plan(self.shield._tool_call_plan(c, judged), guard)
            for c in output.tool_calls
        ]
        plan = self.shield._output_plan(ev, output, memory)
        stop = await arun_plan(plan, self.shield.guard)
        ctx.write_event_to_stream(stop.result)
        return stop


def _without_arguments(call: T) -> T:
    """The tool call with its blocked arguments left out (``tool_kwargs`` and a result's
    ``raw_input`` emptied): the consumer learns which tool was called, not with what."""
    left_out: ToolCall | ToolCallResult | ToolSelection
    if isinstance(call, ToolCallResult):
        output = call.tool_output.model_copy(update={"raw_input": {}})
        left_out = ToolCallResult(tool_name=call.tool_name, tool_kwargs={}, tool_id=call.tool_id,
                                  tool_output=output, return_direct=call.return_direct)  # fmt: skip
    elif isinstance(call, ToolCall):
        left_out = ToolCall(tool_name=call.tool_name, tool_kwargs={}, tool_id=call.tool_id)
    else:
        left_out = call.model_copy(update={"tool_kwargs": {}})  # a ToolSelection
    return cast("T", left_out)


def _records(verdicts: dict[str, Verdict]) -> dict[str, Any]:
    """The verdicts as JSON-ready records (``llamashield.verdict_metadata``), by stage."""
    return {stage: verdict_metadata(verdict, stage=stage) for stage, verdict in verdicts.items()}


def _refusal_message(refusal: str, verdicts: dict[str, Verdict]) -> ChatMessage:
    return ChatMessage(
        role=MessageRole.ASSISTANT,
        content=refusal,
        additional_kwargs={"llamashield": _records(verdicts)},
    )
