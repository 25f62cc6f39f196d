"""``LlamaGuardMiddleware``: Llama Guard for agents built with ``langchain.agents.create_agent``.

Needs the ``langchain`` package: ``pip install "langchain-llamashield[agents]"``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast

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
    METADATA_KEY,
    Conversation,
    ExitBehavior,
    agent_turn,
    format_violation,
    tool_call_digest,
    tool_call_part,
    user_turn,
    verdict_metadata,
)
from langchain_llamashield._tool_args import adds_text, received_arguments
from llamashield import LlamaGuard, UnsafeContentError, Verdict
from llamashield.integration import parse_on_unsafe

if TYPE_CHECKING:
    from langgraph.prebuilt.tool_node import ToolCallRequest
    from langgraph.runtime import Runtime
    from langgraph.types import Command

__all__ = ["LlamaGuardMiddleware"]

MiddlewareOnUnsafe = Literal["raise", "refuse", "end", "replace", "error"]


def exit_behavior_of(on_unsafe: str, exit_behavior: str | None) -> ExitBehavior:
    """The middleware's mode from llamashield's ``on_unsafe`` or LangChain's ``exit_behavior``
    spelling (``OpenAIModerationMiddleware``'s, kept as aliases: ``"error"`` is ``"raise"``)."""
    if exit_behavior is not None:
        if on_unsafe != "raise" and on_unsafe != exit_behavior:
            raise ValueError("pass on_unsafe= or exit_behavior=, not both")
        on_unsafe = exit_behavior
    action = parse_on_unsafe(
        on_unsafe,
        modes=("raise", "end", "replace"),
        aliases={"error": "raise", "refuse": "end"},
        what=None,
    )
    return "error" if action.mode == "raise" else action.mode  # type: ignore[return-value]


_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class _Check(Generic[_R]):
    """One pending judgement: what to send to the guard, and what to do with its verdict.

    Planning and applying are pure; the sync and async hooks differ only in how they get the
    verdicts (``guard.check_many`` or ``await guard.acheck_many``).
    """

    conversations: list[Conversation]
    # The verdicts, in order; with ``trusted`` set, ``(message index, verdict)`` pairs.
    apply: Callable[[list[Any]], _R]
    # Set: judge the one conversation turn by turn (``check_turns``), these indexes trusted.
    trusted: Sequence[int] | None = None


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


class LlamaGuardMiddleware(AgentMiddleware[AgentState[Any], Any]):
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
      the state (other middleware added them: retrieved documents, memories, summaries), as
      the last turns of the conversation the model reads; unsafe, the model is not called.
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
        mode = exit_behavior_of(on_unsafe, exit_behavior)
        self.guard = guard.with_shadow(shadow)
        self.check_input = check_input
        self.check_output = check_output
        self.check_tool_results = check_tool_results
        self.check_tool_calls = check_tool_calls
        self.exit_behavior: ExitBehavior = mode
        self.refusal = refusal
        # Seals the messages this middleware judged or wrote, so later model calls of the run
        # trust them; anything else in the state (history, forged turns) is judged.
        self._secret = os.urandom(32)

    @property
    def on_unsafe(self) -> str:
        """The setting in llamashield's vocabulary (``"error"`` reads ``"raise"``)."""
        return "raise" if self.exit_behavior == "error" else self.exit_behavior

    # -- pure: violations -----------------------------------------------------------------

    def _violation(self, verdict: Verdict, stage: str, content: str) -> tuple[str, dict[str, Any]]:
        if self.exit_behavior == "error":
            raise UnsafeContentError(verdict, stage)
        # Every message the middleware writes enters the state the model reads next: what was
        # blocked never goes back in, so ``{original_content}`` is left empty here.
        text = format_violation(self.refusal, verdict, "", stage)
        marker = {**verdict_metadata(verdict, stage=stage), "exit": self.exit_behavior}
        return text, marker

    def _error_message(
        self, verdict: Verdict, stage: str, text: str, call_id: str | None, name: str | None
    ) -> ToolMessage:
        """The error ``ToolMessage`` that stands for a blocked tool call or ``Command``."""
        violation, marker = self._violation(verdict, stage, text)
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

    # -- pure: plans ----------------------------------------------------------------------

    def _pending_end(self, messages: Sequence[BaseMessage]) -> dict[str, Any] | None:
        """End the run when a tool call or result was blocked under ``exit_behavior="end"``."""
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

    def _plan_input(self, messages: Sequence[BaseMessage]) -> _Check[dict[str, Any] | None] | None:
        """Judge every message of the state this middleware did not seal: the whole initial
        state on the first model call (a history, forged answers, planted tool results), the
        new messages after; each as the last turn of its own prefix."""
        trusted = [i for i, m in enumerate(messages) if self._sealed(m)]
        untrusted = [m for i, m in enumerate(messages) if i not in trusted and has_content(m)]
        if not untrusted:
            return None
        text = "\n".join(readable_text(m) for m in untrusted)

        def apply(turns: list[tuple[int, Verdict]]) -> dict[str, Any] | None:
            first = next(((i, v) for i, v in turns if not v.safe), None)
            if first is None:
                return None
            index, verdict = first
            violation, marker = self._violation(verdict, "input", text)
            # The unsafe message and what follows it never stay in the state as they were, so
            # the thread goes on after a blocked turn (and a later check does not meet them).
            later = [m for m in messages[index + 1 :] if m.id]
            if self.exit_behavior == "end":
                reply = AIMessage(content=violation, response_metadata={METADATA_KEY: marker})
                gone = [RemoveMessage(id=m.id) for m in [messages[index], *later] if m.id]
                return {"jump_to": "end", "messages": [*gone, self._sealing(reply)]}
            # "replace": the unsafe message takes the violation message in place (same id, so
            # the state's reducer swaps it); later ones are removed, tool results replaced
            # (their calls still need an answer).
            replaced = [self._replaced(messages[index], violation, marker)]
            for message in later:
                if isinstance(message, ToolMessage):
                    replaced.append(self._replaced(message, violation, marker))
                else:
                    replaced.append(RemoveMessage(id=cast(str, message.id)))
            return {"messages": replaced}

        conversation = [message_dict(m) for m in messages]
        return _Check([conversation], apply, trusted=trusted)

    def _replaced(self, message: BaseMessage, violation: str, marker: dict[str, Any]) -> Any:
        metadata = {**message.response_metadata, METADATA_KEY: marker}
        update: dict[str, Any] = {"content": violation, "response_metadata": metadata}
        if isinstance(message, AIMessage):
            update.update(tool_calls=[], invalid_tool_calls=[])
        return self._sealing(message.model_copy(update=update))

    def _plan_request(self, request: ModelRequest[Any]) -> _Check[ModelResponse[Any] | None] | None:
        """Judge the messages of the model request that are not in the state (middleware
        placed before this one added them: retrieved documents, memories, summaries); the
        state's own were judged in ``before_model``. Unsafe: the model is not called."""
        if not self.check_input:
            return None
        state = request.state.get("messages", []) if request.state else []
        known = {(m.id, readable_text(m)) for m in state}
        messages = list(request.messages)
        trusted = [
            i
            for i, m in enumerate(messages)
            if (m.id, readable_text(m)) in known or self._sealed(m)
        ]
        if len(trusted) == len(messages):
            return None
        added = [m for i, m in enumerate(messages) if i not in trusted]
        text = "\n".join(readable_text(m) for m in added)

        def apply(turns: list[tuple[int, Verdict]]) -> ModelResponse[Any] | None:
            verdict = next((v for _, v in turns if not v.safe), None)
            if verdict is None:
                return None
            violation, marker = self._violation(verdict, "input", text)
            reply = AIMessage(content=violation, response_metadata={METADATA_KEY: marker})
            return ModelResponse([self._sealing(reply)], None)

        return _Check([[message_dict(m) for m in messages]], apply, trusted=trusted)

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

    def _plan_output(
        self, messages: Sequence[AnyMessage], response: ModelResponse[Any]
    ) -> _Check[ModelResponse[Any]] | None:
        """Judge the answer's text and (with ``check_tool_calls``) each tool call, at once."""
        index = _last_index(response.result, AIMessage)
        if index is None:
            return None
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
            return None
        digests = {
            call["id"]: tool_call_digest(call["name"], call["args"]) for call in answer.tool_calls
        }

        def apply(verdicts: list[Verdict]) -> ModelResponse[Any]:
            result = list(response.result)
            calls = {
                call_id: {
                    **verdict_metadata(verdict, stage="tool_args"),
                    "digest": digests.get(call_id, ""),
                }
                for (_, _, call_id), verdict in zip(judged, verdicts, strict=True)
                if call_id is not None
            }
            outcomes = [
                (stage, readable_text(content), v)
                for (stage, content, _), v in zip(judged, verdicts, strict=True)
            ]
            blocked = next((o for o in outcomes if not o[2].safe), None)
            if blocked is None:
                stage, _, _ = judged[0]
                marker = {**verdict_metadata(verdicts[0], stage=stage), "tool_calls": calls}
                metadata = {**answer.response_metadata, METADATA_KEY: marker}
                stamped = answer.model_copy(update={"response_metadata": metadata})
                # Sealed only when its whole text was judged: under check_output=False the
                # next model call judges it as history (a seal would let it be replayed).
                result[index] = self._sealing(stamped) if self.check_output else stamped
                return ModelResponse(result, response.structured_response)
            stage, content, verdict = blocked
            violation, marker = self._violation(verdict, stage, content)
            metadata = {**answer.response_metadata, METADATA_KEY: {**marker, "tool_calls": calls}}
            if self.exit_behavior == "end":
                # The unsafe answer and its tool calls never enter the state: no tool runs.
                replaced = AIMessage(content=violation, id=answer.id, response_metadata=metadata)
            else:
                # "replace": the text goes; unsafe tool calls are dropped, safe ones still run.
                safe_calls = [
                    c for c in answer.tool_calls if calls.get(c["id"] or "", {}).get("safe")
                ]
                replaced = answer.model_copy(
                    update={
                        "content": violation,
                        "tool_calls": safe_calls,
                        "invalid_tool_calls": [],
                        "response_metadata": metadata,
                    }
                )
            result[index] = self._sealing(replaced)
            return ModelResponse(result, response.structured_response)

        return _Check([agent_turn(question, content) for _, content, _ in judged], apply)

    def _plan_after_model(self, messages: Sequence[BaseMessage]) -> dict[str, Any] | None:
        index = _last_index(messages, AIMessage)
        if index is None:
            return None
        marker = _marker(messages[index])
        if marker is not None and marker.get("exit") == "end" and self._sealed(messages[index]):
            return {"jump_to": "end"}
        return None

    def _plan_tool_call(self, request: ToolCallRequest) -> _Check[ToolMessage | None] | None:
        call = request.tool_call
        messages = request.state.get("messages", [])
        given = call.get("args", {})
        args = given  # below: as the tool will receive them (aliases, validators, _tool_args)
        if request.tool is not None:
            args = received_arguments(request.tool, given, call["id"])
        if _judged_tool_call(messages, call, self._sealed) and not adds_text(args, given):
            return None  # judged with the answer that made it, in wrap_model_call
        part = tool_call_part(call["name"], args)
        text = readable_text(part)

        def apply(verdicts: list[Verdict]) -> ToolMessage | None:
            (verdict,) = verdicts
            if verdict.safe:
                return None
            return self._error_message(verdict, "tool_args", text, call["id"], call["name"])

        return _Check([agent_turn(_last_question(messages), [part])], apply)

    def _plan_tool_result(
        self, result: ToolMessage | Command[Any], call: Mapping[str, Any]
    ) -> _Check[ToolMessage | Command[Any]] | None:
        if not isinstance(result, ToolMessage):
            return self._plan_command(result, call)
        if not has_content(result):
            return None
        text = readable_text(result)

        def apply(verdicts: list[Verdict]) -> ToolMessage | Command[Any]:
            (verdict,) = verdicts
            if verdict.safe:
                return cast(ToolMessage, self._stamped(result, verdict, "tool_result"))
            violation, marker = self._violation(verdict, "tool_result", text)
            metadata = {**result.response_metadata, METADATA_KEY: marker}
            return cast(
                ToolMessage,
                self._sealing(
                    result.model_copy(
                        update={
                            "content": violation,
                            "artifact": None,
                            "response_metadata": metadata,
                        }
                    )
                ),
            )

        return _Check([[message_dict(result, "user")]], apply)

    def _plan_command(
        self, command: Command[Any], call: Mapping[str, Any]
    ) -> _Check[ToolMessage | Command[Any]] | None:
        """A tool's ``Command``: its state update (messages included) enters the conversation,
        so it is judged like a result; an unsafe one is replaced by an error ``ToolMessage``
        (the update, and its ``goto``, are not applied)."""
        update = plain(getattr(command, "update", None))
        if not has_content(update):
            return None
        text = readable_text(update)

        def apply(verdicts: list[Verdict]) -> ToolMessage | Command[Any]:
            (verdict,) = verdicts
            if verdict.safe:
                return command
            call_id = call.get("id") or ""
            return self._error_message(verdict, "tool_result", text, call_id, call.get("name"))

        return _Check([user_turn(update)], apply)

    # -- I/O helpers: the only code written twice -----------------------------------------

    def _run(self, check: _Check[_R] | None, default: _R) -> _R:
        if check is None:
            return default
        if check.trusted is not None:
            (conversation,) = check.conversations
            return check.apply(self.guard.check_turns(conversation, trusted=check.trusted))
        return check.apply(self.guard.check_many(check.conversations))

    async def _arun(self, check: _Check[_R] | None, default: _R) -> _R:
        if check is None:
            return default
        if check.trusted is not None:
            (conversation,) = check.conversations
            trusted = check.trusted
            return check.apply(await self.guard.acheck_turns(conversation, trusted=trusted))
        return check.apply(await self.guard.acheck_many(check.conversations))

    # -- before / after model ---------------------------------------------------------------

    @hook_config(can_jump_to=["end"])
    def before_model(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """End after a blocked tool step; judge the user's new message."""
        messages = state.get("messages", [])
        if ended := self._pending_end(messages):
            return ended
        return self._run(self._plan_input(messages) if self.check_input else None, None)

    @hook_config(can_jump_to=["end"])
    async def abefore_model(
        self, state: AgentState[Any], runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async ``before_model``."""
        messages = state.get("messages", [])
        if ended := self._pending_end(messages):
            return ended
        return await self._arun(self._plan_input(messages) if self.check_input else None, None)

    @hook_config(can_jump_to=["end"])
    def after_model(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """End the run when ``wrap_model_call`` blocked the answer under ``"end"``."""
        return self._plan_after_model(state.get("messages", []))

    @hook_config(can_jump_to=["end"])
    async def aafter_model(
        self, state: AgentState[Any], runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async ``after_model``."""
        return self.after_model(state, runtime)

    # -- model call -----------------------------------------------------------------------

    def _holding(self, request: ModelRequest[Any]) -> AbstractContextManager[None]:
        """Tokens held back from live feeds until the answer is judged; in shadow mode they
        stream as they would unguarded (the answer is still judged and recorded)."""
        if self.guard.shadow:
            return nullcontext()
        refuse_attached_callbacks(request.model, "LlamaGuardMiddleware")
        return _tokens_held_back()

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any]:
        """Judge what the request adds to the state (other middleware's messages), then the
        model's answer before it leaves the model node (tokens held back)."""
        refused = self._run(self._plan_request(request), None)
        if refused is not None:
            return refused
        if not (self.check_output or self.check_tool_calls):
            return handler(request)
        with self._holding(request):
            response = handler(request)
        return self._run(self._plan_output(request.messages, response), response)

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        """Async ``wrap_model_call``."""
        refused = await self._arun(self._plan_request(request), None)
        if refused is not None:
            return refused
        if not (self.check_output or self.check_tool_calls):
            return await handler(request)
        with self._holding(request):
            response = await handler(request)
        return await self._arun(self._plan_output(request.messages, response), response)

    # -- tool call ------------------------------------------------------------------------

    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]],
    ) -> ToolMessage | Command[Any]:
        """Judge the arguments (unsafe: the tool never runs), then the result."""
        if self.check_tool_calls:
            blocked = self._run(self._plan_tool_call(request), None)
            if blocked is not None:
                return blocked
        result = handler(request)
        if not self.check_tool_results:
            return self._trusted_result(result)
        return self._run(self._plan_tool_result(result, request.tool_call), result)

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        """Async ``wrap_tool_call``."""
        if self.check_tool_calls:
            blocked = await self._arun(self._plan_tool_call(request), None)
            if blocked is not None:
                return blocked
        result = await handler(request)
        if not self.check_tool_results:
            return self._trusted_result(result)
        return await self._arun(self._plan_tool_result(result, request.tool_call), result)
