"""Llama Guard in a custom LangGraph ``StateGraph`` over a ``messages`` state.

``LlamaGuardNode`` is a node that judges the conversation in the state; ``route_unsafe`` is the
routing function that sends a blocked turn elsewhere. Every message that came into the state
since the guard last judged it (a user's message, the model's answer, a tool result, a turn
edited in a saved checkpoint) is judged as the last turn of its own prefix
(``LlamaGuard.check_conversation``); what was judged is remembered by the guard (its verdict
cache, shared by replicas with ``RedisVerdictCache``, or its in-process record), so a resumed
thread costs one check per new message and an edited one is judged again.

Example::

    from langgraph.graph import END, START, MessagesState, StateGraph
    from langchain_llamashield.langgraph import LlamaGuardNode, route_unsafe

    builder = StateGraph(MessagesState)
    builder.add_node("guard_input", LlamaGuardNode(guard))            # refuses by default
    builder.add_node("model", call_model)
    builder.add_node("guard_output", LlamaGuardNode(guard))
    builder.add_edge(START, "guard_input")
    builder.add_conditional_edges("guard_input", route_unsafe, {"safe": "model", "unsafe": END})
    builder.add_edge("model", "guard_output")
    builder.add_edge("guard_output", END)
    graph = builder.compile(checkpointer=InMemorySaver())

A node after the model judges its answer before the next node reads it, but LangGraph has
already saved and streamed the model node's output (``stream_mode="updates"``/``"messages"``,
the checkpoint). Where consumers read the stream, guard the answer inside the model node:
``GuardedChatModel`` as the model (windows released once judged), with this node guarding
what comes in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, RemoveMessage
from langchain_core.runnables import RunnableLambda

from langchain_llamashield._inputs import message_dict, readable_text
from langchain_llamashield._judging import ParsedOnUnsafe, judge_turns
from llamashield import ConfigurationError, LlamaGuard, Verdict
from llamashield.integration import (
    METADATA_KEY,
    Blocked,
    Plan,
    arun_plan,
    format_refusal,
    parse_on_unsafe,
    run_plan,
    unsafe_outcome,
    verdict_metadata,
)

__all__ = ["LlamaGuardNode", "route_unsafe"]

NodeOnUnsafe = Literal["refuse", "end", "interrupt", "raise"]


class LlamaGuardNode(ParsedOnUnsafe, RunnableLambda[Mapping[str, Any], Any]):
    """A LangGraph node judging the state's messages; sync and async graphs alike.

    Args:
        guard: the ``LlamaGuard`` that judges (give it ``cache=`` to share what was judged
            between replicas and processes).
        on_unsafe: what an unsafe turn does:

            - ``"refuse"`` (default): the unsafe message and any after it leave the state and the
              node adds an AI message with the refusal, marked as blocked; route on it with
              ``route_unsafe`` (``"unsafe"``) to end or go elsewhere.
            - ``"end"``: the same message, and the graph ends: the node routes itself with
              ``Command`` (to ``goto`` when safe, to ``END`` when not), so give it ``goto=``
              and ``add_node(..., destinations=(goto, END))`` instead of an edge out of it.
            - ``"interrupt"``: LangGraph's human review, ``interrupt(...)`` with the verdict's
              record, the stage and the judged text; resume with ``Command(resume="allow")``
              to let the turn through (remembered by this node for that message, its id and
              content), anything else refuses as above. Needs a checkpointer.
            - ``"raise"``: ``UnsafeContentError`` out of the graph.
        messages_key: the state key holding the conversation.
        refusal: the refusal template (``{categories}``, ``{codes}``, ``{stage}``).
        stage: the name recorded in verdicts (``"input"`` before the model, ``"output"``
            after it); the judging is the same.
        goto: under ``on_unsafe="end"``, the node that runs next when the turn is safe.
        shadow: judge and record, never refuse, end, interrupt or raise (the state passes on
            unchanged); default: the guard's own ``shadow``.
    """

    def __init__(
        self,
        guard: LlamaGuard,
        *,
        on_unsafe: NodeOnUnsafe = "refuse",
        messages_key: str = "messages",
        refusal: str | None = None,
        stage: str = "input",
        goto: str | None = None,
        name: str = "llama_guard",
        shadow: bool | None = None,
    ) -> None:
        self.action = parse_on_unsafe(
            on_unsafe, refusal=refusal, modes=("refuse", "end", "interrupt", "raise"), what=None
        )
        if (on_unsafe == "end") != (goto is not None):
            raise ConfigurationError(
                "on_unsafe='end' routes with Command: pass goto= (the node to run when the "
                "turn is safe) and add no edge out of this node; goto= applies to 'end' only"
            )
        self.guard = guard.with_shadow(shadow)
        self.goto = goto
        self.messages_key = messages_key
        self.stage = stage
        self._approved: set[tuple[str | None, str]] = set()
        super().__init__(self._judge, afunc=self._ajudge, name=name)

    def _messages(self, state: Mapping[str, Any]) -> list[BaseMessage]:
        return list(state.get(self.messages_key) or [])

    def _plan(self, state: Mapping[str, Any]) -> Plan[Any]:
        """Judge every turn of the state's conversation, then apply ``on_unsafe``."""
        messages = self._messages(state)
        if not messages:
            return {}
        turns = yield judge_turns([message_dict(m) for m in messages])
        return (yield from self._outcome(turns, messages))

    def _judge(self, state: Mapping[str, Any]) -> Any:
        return run_plan(self._plan(state), self.guard)

    async def _ajudge(self, state: Mapping[str, Any]) -> Any:
        return await arun_plan(self._plan(state), self.guard)

    def _outcome(self, turns: list[tuple[int, Verdict]], messages: list[BaseMessage]) -> Plan[Any]:
        """The node's update: nothing for a safe conversation, else the core's unsafe outcome
        for the first unsafe turn (``interrupt`` reviews each in turn)."""
        unsafe = [(i, v) for i, v in turns if not v.safe]
        unsafe = [(i, v) for i, v in unsafe if _approval(messages[i]) not in self._approved]
        if not unsafe:
            return self._next({})
        index, verdict = unsafe[0]

        def refuse(blocked: Blocked) -> Any:
            return self._refuse(index, verdict, messages)

        handlers = {
            "refuse": refuse,
            "end": refuse,
            "interrupt": lambda _: self._reviewed(unsafe, messages),
        }
        refusal = format_refusal(self.action.refusal, verdict, stage=self.stage)
        blocked = Blocked(verdict, self.stage, messages[index], refusal)
        return (yield from unsafe_outcome(self.action, blocked, handlers))

    def _reviewed(self, unsafe: list[tuple[int, Verdict]], messages: list[BaseMessage]) -> Any:
        """LangGraph's human review (``interrupt``) of each unsafe message, in order."""
        from langgraph.types import interrupt

        # One review per unsafe message, in order: LangGraph replays the answers given so
        # far when the node runs again, so each "allow" covers the message it was shown.
        for index, verdict in unsafe:
            record = verdict_metadata(verdict, stage=self.stage)
            content = readable_text(messages[index])
            decision = interrupt({"llamashield": record, "stage": self.stage,
                                  "content": content})  # fmt: skip
            if decision != "allow":
                return self._refuse(index, verdict, messages)
        # Approvals hold for these very messages (id and content) in later runs of this
        # node; an edited message is judged, and reviewed, again.
        self._approved.update(_approval(messages[i]) for i, _ in unsafe)
        return self._next({})

    def _refuse(self, index: int, verdict: Verdict, messages: list[BaseMessage]) -> Any:
        record = verdict_metadata(verdict, stage=self.stage)
        # The refusal enters the state the model reads: what was blocked never goes back in.
        text = format_refusal(self.action.refusal, verdict, stage=self.stage)
        marker = {**record, "blocked": True}
        reply = AIMessage(content=text, response_metadata={METADATA_KEY: marker})
        # The unsafe turn and what followed it leave the state, so the thread stays usable:
        # the next turn is judged after the refusal, not after the unsafe message.
        removed = [RemoveMessage(id=m.id) for m in messages[index:] if m.id]
        update = {self.messages_key: [*removed, reply]}
        if self.action.mode == "end":
            from langgraph.graph import END
            from langgraph.types import Command

            return Command(goto=END, update=update)
        return update

    def _next(self, update: dict[str, Any]) -> Any:
        """A safe turn's update: as it is, or under ``"end"`` a ``Command`` to ``goto``."""
        if self.goto is None:
            return update
        from langgraph.types import Command

        return Command(goto=self.goto, update=update)


def _approval(message: BaseMessage) -> tuple[str | None, str]:
    return message.id, readable_text(message)


def route_unsafe(state: Mapping[str, Any], messages_key: str = "messages") -> str:
    """``"unsafe"`` when the guard node just blocked the turn (its refusal is the last
    message), else ``"safe"``: the routing function for ``add_conditional_edges``.

    A client that forges the marker only routes its own turn to ``"unsafe"``.
    """
    messages: Sequence[AnyMessage] = state.get(messages_key) or []
    if not messages or not isinstance(messages[-1], AIMessage):
        return "safe"
    marker = messages[-1].response_metadata.get(METADATA_KEY)
    return "unsafe" if isinstance(marker, dict) and marker.get("blocked") else "safe"
