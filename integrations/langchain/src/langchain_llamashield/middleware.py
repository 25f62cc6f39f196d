"""``LlamaGuardMiddleware``: Llama Guard for agents built with ``langchain.agents.create_agent``.

Needs the ``langchain`` package: ``pip install "langchain-llamashield[agents]"``.

Each hook is one sans-I/O plan (``llamashield.integration``): the sync hook drives it with
``run_plan``, the async one with ``arun_plan``, so what is judged and what a verdict does are
written once.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar, cast

try:
    from langchain.agents.middleware.types import (
        AgentMiddleware,
        AgentState,
        ModelRequest,
        ModelResponse,
        hook_config,
    )
    from langgraph.constants import TAG_NOSTREAM
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "LlamaGuardMiddleware needs the `langchain` package (create_agent): "
        'pip install "langchain-llamashield[agents]"'
    ) from exc
from langchain_core.callbacks import BaseCallbackManager, CallbackManager
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    RemoveMessage,
    ToolMessage,
)
from langchain_core.runnables.config import ensure_config, var_child_runnable_config

from langchain_llamashield._buffered_callbacks import CallbackBuffer
from langchain_llamashield._child_callbacks import refuse_attached_callbacks, without_live_tokens
from langchain_llamashield._inputs import (
    has_content,
    message_dict,
    message_parts,
    plain,
    readable_text,
    speaker,
)
from langchain_llamashield._judging import (
    ParsedOnUnsafe,
    agent_turn,
    judge_turns,
    tool_call_digest,
    tool_call_part,
    user_turn,
)
from langchain_llamashield._tool_args import adds_text, received_arguments
from llamashield import LlamaGuard, Verdict
from llamashield.integration import (
    METADATA_KEY,
    Blocked,
    Call,
    Judge,
    Plan,
    UnsafeAction,
    arun_plan,
    format_refusal,
    parse_on_unsafe,
    run_plan,
    unsafe_outcome,
    verdict_metadata,
)

if TYPE_CHECKING:
    from langgraph.prebuilt.tool_node import ToolCallRequest
    from langgraph.runtime import Runtime
    from langgraph.types import Command

__all__ = ["LlamaGuardMiddleware"]

MiddlewareOnUnsafe = Literal["raise", "refuse", "end", "replace", "error"]
ExitBehavior = Literal["error", "end", "replace"]
"""``OpenAIModerationMiddleware``'s spelling of the modes: ``"error"`` is ``"raise"``."""

_EXIT_BEHAVIOR = {"raise": "error", "end": "end", "replace": "replace"}

_R = TypeVar("_R")
_Write: TypeAlias = Callable[[str, dict[str, Any]], _R]
"""What an unsafe verdict writes in place of the content, given the refusal and the marker."""


def _unsafe_action(on_unsafe: str, exit_behavior: str | None, refusal: str | None) -> UnsafeAction:
    """The middleware's mode (``raise``, ``end`` or ``replace``) from llamashield's
    ``on_unsafe`` or LangChain's ``exit_behavior`` spelling."""
    if exit_behavior is not None:
        if on_unsafe != "raise" and on_unsafe != exit_behavior:
            raise ValueError("pass on_unsafe= or exit_behavior=, not both")
        on_unsafe = exit_behavior
    return parse_on_unsafe(
        on_unsafe,
        refusal=refusal,
        modes=("raise", "end", "replace"),
        aliases={"error": "raise", "refuse": "end"},
        what=None,
    )


def _last_index(messages: Sequence[BaseMessage], kind: type[BaseMessage]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], kind):
            return index
    return None


def _is_user(message: BaseMessage) -> bool:
    """A message the user wrote: ``HumanMessage`` or ``ChatMessage(role="user")``."""
    return speaker(message) == "user" and not isinstance(message, ToolMessage)


def _last_question(messages: Sequence[BaseMessage]) -> list[Any] | None:
    """The user's last message as content parts (the context an answer is judged in)."""
    for message in reversed(messages):
        if _is_user(message):
            return message_parts(message)
    return None


def _judged_tool_call(
    messages: Sequence[BaseMessage],
    call: Mapping[str, Any],
    sealed: Callable[[BaseMessage], bool],
) -> bool:
    """Whether ``wrap_model_call`` judged this very tool call (and let it through).

    The marker holds a digest of the judged name and arguments: a call edited after it was
    judged (a human-in-the-loop edit keeps the id) no longer matches and is judged again. Only
    a marker on a message this middleware sealed counts (a planted one is not its word).
    """
    call_id = call.get("id")
    for message in reversed(messages):
        if isinstance(message, AIMessage) and any(c["id"] == call_id for c in message.tool_calls):
            if not sealed(message):
                return False
            marker = _marker(message) or {}
            judged = marker.get("tool_calls", {}).get(call_id, {})
            digest = tool_call_digest(call.get("name", ""), call.get("args", {}))
            return bool(judged.get("safe")) and bool(digest) and judged.get("digest") == digest
    return False


def _marker(message: BaseMessage) -> dict[str, Any] | None:
    marker = message.response_metadata.get(METADATA_KEY)
    return marker if isinstance(marker, dict) else None


def _blocked(message: ToolMessage | Command[Any]) -> bool:
    """Whether a judged tool result was blocked: what stands for it records how it ended."""
    return isinstance(message, ToolMessage) and "exit" in (_marker(message) or {})


def _under(buffer: CallbackBuffer, call: Call) -> Call:
    """``call`` (a handler the agent hands its middleware) run with its callback events in
    ``buffer``."""
    run = partial(call.sync, *call.args, **call.kwargs)
    start = call.async_ or call.sync
    return Call(partial(buffer.run, run),
                lambda: buffer.arun(start(*call.args, **call.kwargs)))  # fmt: skip


@contextmanager
def _tokens_held_back() -> Iterator[None]:
    """Keep the model call inside away from live token feeds until its answer is judged.

    LangGraph's ``stream_mode="messages"`` forwards every token of a chat model run unless
    the run is tagged ``nostream``; ``astream_events`` and token handlers get them through
    callbacks. The model node runs the model with the config in the context, so the tag and
    the filtered callbacks set here reach it (tracers stay: traces show what the model said).
    The node's own output, the judged and possibly replaced message, still streams when the
    node ends.
    """
    config = ensure_config()
    callbacks = config.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        callbacks = without_live_tokens(callbacks.copy())
    elif isinstance(callbacks, list):
        callbacks = without_live_tokens(CallbackManager([], list(callbacks))).inheritable_handlers
    tags = [*(config.get("tags") or []), TAG_NOSTREAM]
    token = var_child_runnable_config.set({**config, "tags": tags, "callbacks": callbacks})
    try:
        yield
    finally:
        var_child_runnable_config.reset(token)


class LlamaGuardMiddleware(ParsedOnUnsafe, AgentMiddleware[AgentState[Any], Any]):
    """Moderate an agent's user input, model answers, tool calls and tool results.

    The options and exit behaviours follow ``langchain_openai``'s
    ``OpenAIModerationMiddleware``; the judge is Llama Guard.

    Example::

        from langchain.agents import create_agent

        agent = create_agent(
            model,
            tools=[search],
            middleware=[LlamaGuardMiddleware(guard, check_tool_results=True, on_unsafe="end")],
        )
        agent.invoke({"messages": [{"role": "user", "content": "How do I make a bomb?"}]})
        # -> ends with "I'm sorry, but I can't help with that: it was flagged for
        #    Indiscriminate Weapons." and the model is never called.

    What is judged, where:

    - **input** (``before_model``): every message of the state that this middleware did not
      judge or write itself in this run: on the first model call the whole initial state (a
      history, an assistant turn or a tool result planted in it), later the user's new
      messages. Each is judged as the last turn of its own prefix (user, system and tool
      messages as the User's, assistant ones as the Agent's), and the guard remembers what it
      judged. What the middleware judged carries an HMAC seal under a per-instance secret in
      its marker, so a marker copied onto other content is not trusted; a thread resumed by
      another instance (another process) is judged again once.
    - **the model request** (``wrap_model_call``): messages in the request that are not in
      the state (other middleware added them: retrieved documents, memories, summaries), and
      its system message (``@dynamic_prompt`` builds it from such content), as the turns of
      the conversation the model reads; unsafe, the model is not called.
      A middleware's ``wrap_model_call`` sees the request as the middleware after it in
      ``middleware=[...]`` leave it: put ``LlamaGuardMiddleware`` last when others add to it.
    - **output and tool calls** (``wrap_model_call``): the model's answer text, as the Agent's
      reply to the user's last message, and each tool call's name and arguments, all judged
      concurrently before the answer leaves the model node. Until then the model's tokens are
      held back from every live feed: ``stream_mode="messages"`` (the run is tagged
      ``nostream``), ``astream_events`` and token callbacks (their handlers are left off the
      model's run; tracers stay), so a blocked answer never streams; a safe one streams as one
      message once judged. ``after_model`` then ends the run for ``"end"``.
    - **tool calls** (``wrap_tool_call``): a call that did not come from an answer judged as
      above (added by other middleware, edited by a human...) is judged before the tool
      runs. Unsafe arguments never run the tool.
    - **tool results** (``wrap_tool_call``, ``check_tool_results``, on by default): every
      part (content blocks, a ``content_and_artifact`` artifact) as a User turn,
      content entering the conversation, before the model (or the messages stream) sees it.
      What the tool's run sends to callbacks meanwhile (the tokens of a chat model the tool
      calls itself, which ``stream_mode="messages"`` and ``astream_events`` forward) is held
      until then: replayed when the result passes, dropped when it is blocked (tracers get it
      live).

    ``on_unsafe`` (``exit_behavior`` takes ``OpenAIModerationMiddleware``'s spellings:
    ``"error"`` is ``"raise"``, ``"end"`` and ``"replace"`` as below):

    - ``"raise"`` (default, as everywhere in llamashield): raise ``UnsafeContentError``
      (``.stage`` is ``input``, ``output``, ``tool_args`` or ``tool_result``).
    - ``"end"`` (or ``"refuse"``): the run ends with an AI message saying why (the
      ``refusal``). An unsafe answer is replaced by it (it never enters the state, and none of
      its tool calls runs); the model is not called again.
    - ``"replace"``: replace the offending content with the refusal and carry on (an
      unsafe input message takes the refusal in place, later ones are removed):
      an unsafe answer's text is replaced and its unsafe tool calls dropped (safe ones run);
      an unsafe tool call reaching ``wrap_tool_call`` gets an error ``ToolMessage`` instead of
      running; an unsafe tool result is replaced.

    Every answer and tool result judged carries its verdict in
    ``response_metadata["llamashield"]`` (per tool call under ``"tool_calls"``).

    Differences from ``OpenAIModerationMiddleware``: each message is judged once, not before
    every model call, and earlier turns are judged too; tool results are judged as the tool
    returns (not in the next ``before_model``), so they never reach the state or the stream
    unjudged; an unsafe answer is replaced rather than followed by the violation message.

    Not covered: the answer is released whole, not window by window (use ``GuardedChatModel``
    as the agent's model for token streaming moderated window by window); tracers (LangSmith,
    run collectors) record what the model really said; structured output is not judged. A
    ``Command`` returned by a tool is judged by its state update (an unsafe one is replaced
    by an error ``ToolMessage``).

    Args:
        guard: the ``LlamaGuard`` that judges.
        check_input: judge the user's messages.
        check_output: judge the model's answer text.
        check_tool_results: judge what tools return (default: on, since a tool's result
            reaches the model; ``OpenAIModerationMiddleware`` defaults to off).
        check_tool_calls: judge tool names and arguments before the tool runs. With either
            this or ``check_output``, the answer's tokens are held back until judged.
        on_unsafe: ``"raise"`` (default), ``"end"`` (alias ``"refuse"``) or ``"replace"``.
        refusal: template of the refusal; placeholders ``{categories}``, ``{codes}``,
            ``{stage}`` (``{original_content}`` stays empty: the refusal enters the state the
            model reads, and what was blocked never goes back in). Default: llamashield's
            ``DEFAULT_REFUSAL``.
        exit_behavior: ``OpenAIModerationMiddleware``'s spelling of ``on_unsafe``:
            ``"error"``, ``"end"`` or ``"replace"``.
        shadow: judge and record, never block (no run ends, nothing is replaced or raised);
            default: the guard's own ``shadow``.
    """

    def __init__(
        self,
        guard: LlamaGuard,
        *,
        check_input: bool = True,
        check_output: bool = True,
        check_tool_results: bool = True,
        check_tool_calls: bool = True,
        on_unsafe: MiddlewareOnUnsafe = "raise",
        refusal: str | None = None,
        exit_behavior: ExitBehavior | None = None,
        shadow: bool | None = None,
    ) -> None:
        super().__init__()
        self.action = _unsafe_action(on_unsafe, exit_behavior, refusal)
        self.guard = guard.with_shadow(shadow)
        self.check_input = check_input
        self.check_output = check_output
        self.check_tool_results = check_tool_results
        self.check_tool_calls = check_tool_calls
        # Seals the messages this middleware judged or wrote, so later model calls of the run
        # trust them; anything else in the state (history, forged turns) is judged.
        self._secret = os.urandom(32)

    @property
    def exit_behavior(self) -> ExitBehavior:
        """The mode in ``OpenAIModerationMiddleware``'s spelling (``"error"`` for ``"raise"``)."""
        return cast(ExitBehavior, _EXIT_BEHAVIOR[self.action.mode])

    # -- unsafe outcomes (the core's unsafe_outcome) and the messages they write ----------

    def _unsafe(
        self,
        verdict: Verdict,
        stage: str,
        content: Any,
        end: _Write[_R],
        replace: _Write[_R] | None = None,
    ) -> Plan[_R]:
        """The core's one unsafe outcome: ``UnsafeContentError`` under ``"raise"``, else what
        ``end`` (or ``replace``; ``end`` serves both when they agree) writes with the refusal
        and the marker that records the verdict."""
        # Every message the middleware writes enters the state the model reads next: what was
        # blocked never goes back in, so ``{original_content}`` is left empty in the refusal.
        refusal = format_refusal(self.action.refusal, verdict, stage=stage)
        marker = {**verdict_metadata(verdict, stage=stage), "exit": self.action.mode}

        def handler(write: _Write[_R]) -> Callable[[Blocked], _R]:
            return lambda blocked: write(blocked.refusal, marker)

        handlers = {"end": handler(end), "replace": handler(replace or end)}
        blocked = Blocked(verdict, stage, content, refusal)
        return cast(_R, (yield from unsafe_outcome(self.action, blocked, handlers)))

    def _error_message(
        self, violation: str, marker: dict[str, Any], call_id: str | None, name: str | None
    ) -> ToolMessage:
        """The error ``ToolMessage`` that stands for a blocked tool call or ``Command``."""
        message = ToolMessage(
            content=violation,
            tool_call_id=call_id,
            name=name,
            status="error",
            response_metadata={METADATA_KEY: marker},
        )
        return cast(ToolMessage, self._sealing(message))

    def _stamped(self, message: Any, verdict: Verdict, stage: str) -> Any:
        marker = verdict_metadata(verdict, stage=stage)
        metadata = {**message.response_metadata, METADATA_KEY: marker}
        return self._sealing(message.model_copy(update={"response_metadata": metadata}))

    def _replaced(self, message: BaseMessage, violation: str, marker: dict[str, Any]) -> Any:
        # Nothing of the unsafe message stays but its identity (id, type, tool_call_id): any
        # part a model reads (name, function calls, reasoning, metadata) may be the payload.
        update: dict[str, Any] = {
            "content": violation,
            "name": None,
            "additional_kwargs": {},
            "response_metadata": {METADATA_KEY: marker},
        }
        if isinstance(message, AIMessage):
            update.update(tool_calls=[], invalid_tool_calls=[])
        if isinstance(message, ToolMessage):
            update.update(artifact=None)
        return self._sealing(message.model_copy(update=update))

    # -- pure: seals ----------------------------------------------------------------------

    def _seal(self, message: BaseMessage) -> str:
        """An HMAC of ``message``'s type and every part a model reads, under this middleware's
        secret: a client can copy a marker but cannot make one for other content."""
        try:
            text = readable_text(message)
        except Exception:
            return ""
        payload = f"{message.type}\n{text}".encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, payload, hashlib.sha256).hexdigest()

    def _sealing(self, message: Any) -> Any:
        """``message`` with its seal in its marker: judged (or produced) in this run."""
        marker = {**(_marker(message) or {}), "seal": self._seal(message)}
        metadata = {**message.response_metadata, METADATA_KEY: marker}
        return message.model_copy(update={"response_metadata": metadata})

    def _trusted_result(self, result: ToolMessage | Command[Any]) -> ToolMessage | Command[Any]:
        """Under ``check_tool_results=False``: a tool that ran in this run is the developer's
        to trust, so its message is sealed unjudged (a result planted in the state is not)."""
        return (
            cast(ToolMessage, self._sealing(result)) if isinstance(result, ToolMessage) else result
        )

    def _sealed(self, message: BaseMessage) -> bool:
        seal = (_marker(message) or {}).get("seal")
        return isinstance(seal, str) and hmac.compare_digest(seal, self._seal(message))

    # -- plans: one per hook, driven by the sync hook and the async one --------------------

    def _before_model(self, messages: Sequence[BaseMessage]) -> Plan[dict[str, Any] | None]:
        """End after a blocked tool step; judge the user's new messages."""
        if ended := self._pending_end(messages):
            return ended
        if not self.check_input:
            return None
        return (yield from self._judged_input(messages))

    def _model_call(self, request: ModelRequest[Any], model: Call) -> Plan[ModelResponse[Any]]:
        """Judge what the request adds to the state, call the model (``model``), judge its
        answer before it leaves the model node (its tokens held back until then)."""
        refused = yield from self._judged_request(request)
        if refused is not None:
            return refused
        if not (self.check_output or self.check_tool_calls):
            return cast(ModelResponse[Any], (yield model))
        with self._holding(request):
            response: ModelResponse[Any] = yield model
        return (yield from self._judged_output(request.messages, response))

    def _tool_call(self, request: ToolCallRequest, tool: Call) -> Plan[ToolMessage | Command[Any]]:
        """Judge the arguments (unsafe: the tool never runs), run it (``tool``), judge the
        result."""
        if self.check_tool_calls:
            blocked = yield from self._judged_tool_call(request)
            if blocked is not None:
                return blocked
        if not self.check_tool_results:
            return self._trusted_result((yield tool))
        # What the tool's run sends to callbacks (the tokens of a chat model the tool calls
        # itself, which ``stream_mode="messages"`` and ``astream_events`` forward) waits for
        # the result's verdict: replayed when it passes, dropped when it is blocked. Tracers
        # get the run live, as for the agent's model.
        with CallbackBuffer("none" if self.guard.shadow else "actors") as buffer:
            try:
                result: ToolMessage | Command[Any] = yield _under(buffer, tool)
            except Exception:  # an interrupt, a tool error: nothing was judged unsafe
                yield Call(buffer.release, buffer.arelease)
                raise
            judged: ToolMessage | Command[Any]
            if isinstance(result, ToolMessage):
                judged = yield from self._judged_tool_result(result)
            else:
                judged = yield from self._judged_command(result, request.tool_call)
            if not _blocked(judged):
                yield Call(buffer.release, buffer.arelease)
        return judged

    # -- plans: the steps they share ---------------------------------------------------------

    def _pending_end(self, messages: Sequence[BaseMessage]) -> dict[str, Any] | None:
        """End the run when a tool call or result was blocked under ``on_unsafe="end"``."""
        start = _last_index(messages, AIMessage)
        for message in messages if start is None else messages[start + 1 :]:
            # Only a marker this middleware wrote (sealed) ends the run: a planted one is a
            # message from outside like any other, judged by the input check.
            marker = _marker(message) if isinstance(message, ToolMessage) else None
            if marker and marker.get("exit") == "end" and self._sealed(message):
                reply = AIMessage(
                    content=readable_text(message), response_metadata={METADATA_KEY: marker}
                )
                return {"jump_to": "end", "messages": [reply]}
        return None

    def _first_unsafe_turn(
        self, messages: Sequence[BaseMessage], trusted: list[int]
    ) -> Plan[tuple[int, Verdict] | None]:
        """Judge every message not in ``trusted``, each as the last turn of its own prefix;
        the first unsafe one's index and verdict."""
        conversation = [message_dict(m) for m in messages]
        turns: list[tuple[int, Verdict]] = yield judge_turns(conversation, trusted)
        return next(((i, v) for i, v in turns if not v.safe), None)

    def _judged_input(self, messages: Sequence[BaseMessage]) -> Plan[dict[str, Any] | None]:
        """Judge every message of the state this middleware did not seal: the whole initial
        state on the first model call (a history, forged answers, planted tool results), the
        new messages after; each as the last turn of its own prefix."""
        trusted = [i for i, m in enumerate(messages) if self._sealed(m)]
        sealed = set(trusted)
        if not any(has_content(m) for i, m in enumerate(messages) if i not in sealed):
            return None
        first = yield from self._first_unsafe_turn(messages, trusted)
        if first is None:
            return None
        index, verdict = first
        # The unsafe message and what follows it never stay in the state as they were, so
        # the thread goes on after a blocked turn (and a later check does not meet them).
        later = [m for m in messages[index + 1 :] if m.id]

        def end(violation: str, marker: dict[str, Any]) -> dict[str, Any]:
            reply = AIMessage(content=violation, response_metadata={METADATA_KEY: marker})
            gone = [RemoveMessage(id=m.id) for m in [messages[index], *later] if m.id]
            return {"jump_to": "end", "messages": [*gone, self._sealing(reply)]}

        def replace(violation: str, marker: dict[str, Any]) -> dict[str, Any]:
            # The unsafe message takes the violation message in place (same id, so the
            # state's reducer swaps it); later ones are removed, tool results replaced
            # (their calls still need an answer).
            replaced = [self._replaced(messages[index], violation, marker)]
            for message in later:
                if isinstance(message, ToolMessage):
                    replaced.append(self._replaced(message, violation, marker))
                else:
                    replaced.append(RemoveMessage(id=cast(str, message.id)))
            return {"messages": replaced}

        return (yield from self._unsafe(verdict, "input", messages[index], end, replace))

    def _judged_request(self, request: ModelRequest[Any]) -> Plan[ModelResponse[Any] | None]:
        """Judge what the model request adds to the state (middleware placed before this one
        added it: retrieved documents, memories, summaries), its system message included
        (``@dynamic_prompt`` builds it from such content; the model reads it first, and the
        core reads it as the User's turn); the state's own were judged in ``before_model``.
        Unsafe: the model is not called."""
        if not self.check_input:
            return None
        state = request.state.get("messages", []) if request.state else []
        known = {(m.id, readable_text(m)) for m in state}
        system = request.system_message
        messages = [*([system] if system is not None else []), *request.messages]
        trusted = [
            i
            for i, m in enumerate(messages)
            if (m.id, readable_text(m)) in known or self._sealed(m)
        ]
        if len(trusted) == len(messages):
            return None
        first = yield from self._first_unsafe_turn(messages, trusted)
        if first is None:
            return None
        index, verdict = first

        def refused(violation: str, marker: dict[str, Any]) -> ModelResponse[Any]:
            reply = AIMessage(content=violation, response_metadata={METADATA_KEY: marker})
            return ModelResponse([self._sealing(reply)], None)

        return (yield from self._unsafe(verdict, "input", messages[index], refused))

    def _judged_output(
        self, messages: Sequence[AnyMessage], response: ModelResponse[Any]
    ) -> Plan[ModelResponse[Any]]:
        """Judge the answer's text and (with ``check_tool_calls``) each tool call, at once."""
        index = _last_index(response.result, AIMessage)
        if index is None:
            return response
        answer = cast(AIMessage, response.result[index])
        question = _last_question(messages)
        # The answer's every part but its (valid) tool calls, which are judged one by one.
        parts = message_parts(answer, tool_calls=False)
        # (stage, what is judged, tool call id)
        judged: list[tuple[str, Any, str | None]] = []
        if self.check_output and has_content(parts):
            judged.append(("output", parts, None))
        if self.check_tool_calls:
            for call in answer.tool_calls:
                judged.append(("tool_args", tool_call_part(call["name"], call["args"]), call["id"]))
        if not judged:
            return response
        verdicts: list[Verdict] = yield Judge([agent_turn(question, c) for _, c, _ in judged])
        digests = {
            call["id"]: tool_call_digest(call["name"], call["args"]) for call in answer.tool_calls
        }
        calls = {
            call_id: {
                **verdict_metadata(verdict, stage="tool_args"),
                "digest": digests.get(call_id, ""),
            }
            for (_, _, call_id), verdict in zip(judged, verdicts, strict=True)
            if call_id is not None
        }
        result = list(response.result)
        outcomes = [(stage, c, v) for (stage, c, _), v in zip(judged, verdicts, strict=True)]
        blocked = next((outcome for outcome in outcomes if not outcome[2].safe), None)
        if blocked is None:
            marker = {**verdict_metadata(verdicts[0], stage=judged[0][0]), "tool_calls": calls}
            metadata = {**answer.response_metadata, METADATA_KEY: marker}
            stamped = answer.model_copy(update={"response_metadata": metadata})
            # Sealed only when its whole text was judged: under check_output=False the
            # next model call judges it as history (a seal would let it be replayed).
            result[index] = self._sealing(stamped) if self.check_output else stamped
            return ModelResponse(result, response.structured_response)
        stage, content, verdict = blocked

        def answered(message: AIMessage) -> ModelResponse[Any]:
            # Nothing derived from the blocked answer stays: a structured response parsed from
            # it, and the tool messages answering the calls it no longer makes (ToolStrategy's
            # "Returned structured response: ...").
            kept = {call["id"] for call in message.tool_calls}
            tail = [m for m in result[index + 1 :]
                    if not isinstance(m, ToolMessage) or m.tool_call_id in kept]  # fmt: skip
            return ModelResponse([*result[:index], self._sealing(message), *tail], None)

        def marked(marker: dict[str, Any]) -> dict[str, Any]:
            return {**answer.response_metadata, METADATA_KEY: {**marker, "tool_calls": calls}}

        def end(violation: str, marker: dict[str, Any]) -> ModelResponse[Any]:
            # The unsafe answer and its tool calls never enter the state: no tool runs.
            return answered(
                AIMessage(content=violation, id=answer.id, response_metadata=marked(marker))
            )

        def replace(violation: str, marker: dict[str, Any]) -> ModelResponse[Any]:
            # The text goes; unsafe tool calls are dropped, safe ones still run.
            safe_calls = [c for c in answer.tool_calls if calls.get(c["id"] or "", {}).get("safe")]
            update = {
                "content": violation,
                "tool_calls": safe_calls,
                "invalid_tool_calls": [],
                "response_metadata": marked(marker),
            }
            return answered(answer.model_copy(update=update))

        return (yield from self._unsafe(verdict, stage, content, end, replace))

    def _judged_tool_call(self, request: ToolCallRequest) -> Plan[ToolMessage | None]:
        """A tool call not judged with the answer that made it (added by other middleware,
        edited by a human...), judged before the tool runs."""
        call = request.tool_call
        messages = request.state.get("messages", [])
        given = call.get("args", {})
        args = given  # below: as the tool will receive them (aliases, validators, _tool_args)
        if request.tool is not None:
            args = received_arguments(request.tool, given, call["id"])
        if _judged_tool_call(messages, call, self._sealed) and not adds_text(args, given):
            return None  # judged with the answer that made it, in wrap_model_call
        part = tool_call_part(call["name"], args)
        conversation = agent_turn(_last_question(messages), [part])
        (verdict,) = yield Judge([conversation], "tool_args")
        if verdict.safe:
            return None

        def refused(violation: str, marker: dict[str, Any]) -> ToolMessage:
            return self._error_message(violation, marker, call["id"], call["name"])

        return (yield from self._unsafe(verdict, "tool_args", part, refused))

    def _judged_tool_result(self, result: ToolMessage) -> Plan[ToolMessage]:
        if not has_content(result):
            return result
        (verdict,) = yield Judge([[message_dict(result, "user")]], "tool_result")
        if verdict.safe:
            return cast(ToolMessage, self._stamped(result, verdict, "tool_result"))

        def replaced(violation: str, marker: dict[str, Any]) -> ToolMessage:
            metadata = {**result.response_metadata, METADATA_KEY: marker}
            update = {"content": violation, "artifact": None, "response_metadata": metadata}
            return cast(ToolMessage, self._sealing(result.model_copy(update=update)))

        return (yield from self._unsafe(verdict, "tool_result", result, replaced))

    def _judged_command(
        self, command: Command[Any], call: Mapping[str, Any]
    ) -> Plan[ToolMessage | Command[Any]]:
        """A tool's ``Command``: its state update (messages included) enters the conversation,
        so it is judged like a result; an unsafe one is replaced by an error ``ToolMessage``
        (the update, and its ``goto``, are not applied)."""
        update = plain(getattr(command, "update", None))
        if not has_content(update):
            return command
        (verdict,) = yield Judge([user_turn(update)], "tool_result")
        if verdict.safe:
            return command

        def refused(violation: str, marker: dict[str, Any]) -> ToolMessage:
            return self._error_message(violation, marker, call.get("id") or "", call.get("name"))

        return (yield from self._unsafe(verdict, "tool_result", command, refused))

    def _holding(self, request: ModelRequest[Any]) -> AbstractContextManager[None]:
        """Tokens held back from live feeds until the answer is judged; in shadow mode they
        stream as they would unguarded (the answer is still judged and recorded)."""
        if self.guard.shadow:
            return nullcontext()
        refuse_attached_callbacks(request.model, "LlamaGuardMiddleware")
        return _tokens_held_back()

    # -- LangChain's hooks: each plan driven sync and async ----------------------------------

    @hook_config(can_jump_to=["end"])
    def before_model(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """End after a blocked tool step; judge the user's new message."""
        return run_plan(self._before_model(state.get("messages", [])), self.guard)

    @hook_config(can_jump_to=["end"])
    async def abefore_model(
        self, state: AgentState[Any], runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async ``before_model``."""
        return await arun_plan(self._before_model(state.get("messages", [])), self.guard)

    @hook_config(can_jump_to=["end"])
    def after_model(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """End the run when ``wrap_model_call`` blocked the answer under ``"end"`` (no I/O)."""
        messages = state.get("messages", [])
        index = _last_index(messages, AIMessage)
        if index is None:
            return None
        marker = _marker(messages[index])
        if marker is not None and marker.get("exit") == "end" and self._sealed(messages[index]):
            return {"jump_to": "end"}
        return None

    @hook_config(can_jump_to=["end"])
    async def aafter_model(
        self, state: AgentState[Any], runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async ``after_model``."""
        return self.after_model(state, runtime)

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any]:
        """Judge what the request adds to the state (other middleware's messages), then the
        model's answer before it leaves the model node (tokens held back)."""
        return run_plan(self._model_call(request, Call(handler, args=(request,))), self.guard)

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        """Async ``wrap_model_call``."""
        plan = self._model_call(request, Call(handler, args=(request,)))
        return await arun_plan(plan, self.guard)

    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]],
    ) -> ToolMessage | Command[Any]:
        """Judge the arguments (unsafe: the tool never runs), then the result."""
        return run_plan(self._tool_call(request, Call(handler, args=(request,))), self.guard)

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        """Async ``wrap_tool_call``."""
        plan = self._tool_call(request, Call(handler, args=(request,)))
        return await arun_plan(plan, self.guard)
