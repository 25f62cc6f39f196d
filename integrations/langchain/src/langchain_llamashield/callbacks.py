"""Callback handlers that judge a run's traffic and abort it, for code that only takes callbacks.

Callbacks see what happens but cannot change it: they can abort a run (by raising, which
LangChain allows only with ``raise_error=True``), not replace a message. Prefer
``guard_runnable``, ``GuardedChatModel``, ``LlamaGuardMiddleware`` or ``guard_tool`` where you
can: they also moderate streams. A model's streamed tokens reach other callbacks before
``on_llm_end`` judges the answer.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage

from langchain_llamashield._inputs import (
    answer_conversation,
    document_content,
    has_content,
    message_dict,
    message_parts,
    readable_text,
)
from langchain_llamashield._judging import Conversation, agent_turn, tool_call_part, user_turn
from llamashield import LlamaGuard, UnsafeContentError, Verdict
from llamashield.integration import Judge, JudgeConversation, Plan, run_plan

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import LLMResult

__all__ = ["LlamaGuardCallbackHandler"]

logger = logging.getLogger("llamashield")


# (what is judged, stage): a conversation judged as it is, or one judged turn by turn.
_Checks = list[tuple[Conversation | JudgeConversation, str]]
_PRODUCED_KEPT = 4096  # answers remembered as the model's own under check_output=False


def _parts(answer: Any) -> Any:
    return answer if isinstance(answer, str) else message_parts(answer)


def _fingerprint(context: Sequence[BaseMessage], message: BaseMessage) -> str:
    """A digest of ``message`` and the conversation it answered (types and judged texts)."""
    digest = hashlib.sha256()
    for item in [*context, message]:
        digest.update(f"{item.type}\n{readable_text(item)}\x00".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


@dataclass
class _GuardEvents:
    """Turns callback events into (conversation, stage) checks and verdicts into outcomes.

    Pure apart from remembering each model run's question (for judging its answer as the
    Agent's reply) and the answers it let through unjudged.
    """

    raise_error: bool
    check_input: bool
    check_output: bool
    check_tool_inputs: bool
    check_retrieval: bool
    _questions: dict[UUID, Any] = field(default_factory=dict)
    _produced: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # handlers run on threads

    def _remember(self, run_id: UUID, context: Conversation, messages: Sequence[Any]) -> None:
        with self._lock:
            self._questions[run_id] = (context, list(messages))

    def forget(self, run_id: UUID) -> Any:
        with self._lock:
            return self._questions.pop(run_id, None)

    def chat_model_start(self, run_id: UUID, prompts: list[list[BaseMessage]]) -> _Checks:
        checks: _Checks = []
        context: Conversation = []
        for messages in prompts:
            context = [message_dict(m) for m in messages]
            if self.check_input and any(has_content(m) for m in messages):
                # Every message the model reads that was not judged before (a history, a
                # forged answer, a tool result), each as the last turn of its own prefix;
                # answers a model produced in a run this handler watched are its own.
                trusted = [i for i, m in enumerate(messages) if self._produced_here(messages, i)]
                checks.append((JudgeConversation(context, trusted), "input"))
        # The answer is judged as the next turn of this context.
        self._remember(run_id, context, prompts[-1] if prompts else [])
        return checks

    def llm_start(self, run_id: UUID, prompts: list[str]) -> _Checks:
        self._remember(run_id, user_turn(prompts[-1]) if prompts else [], [])
        if not self.check_input:
            return []
        return [(user_turn(p), "input") for p in prompts if p.strip()]

    def llm_end(self, run_id: UUID, response: LLMResult) -> _Checks:
        context, messages = self.forget(run_id) or ([], [])
        answers = [
            getattr(gen, "message", None) or gen.text
            for generations in response.generations
            for gen in generations
        ]
        if not self.check_output:
            # Not judged, by the developer's choice; still the model's own words when they
            # come back as history, not a turn from outside.
            # Bound to the conversation it answered: replayed into another one, it is judged.
            with self._lock:
                self._produced.update(
                    _fingerprint(messages, a) for a in answers if isinstance(a, AIMessage)
                )
                while len(self._produced) > _PRODUCED_KEPT:
                    self._produced.pop()
            return []
        trusted = range(len(context))
        return [
            (JudgeConversation(answer_conversation(context, _parts(a)), trusted), "output")
            for a in answers
            if has_content(a)
        ]

    def _produced_here(self, messages: Sequence[BaseMessage], index: int) -> bool:
        """Whether a model watched by this handler wrote ``messages[index]`` as its answer to
        exactly the messages before it."""
        if not isinstance(messages[index], AIMessage):
            return False
        fingerprint = _fingerprint(messages[:index], messages[index])
        with self._lock:
            return fingerprint in self._produced

    def tool_start(
        self, serialized: dict[str, Any] | None, input_str: str, inputs: Any, name: str | None
    ) -> _Checks:
        if not self.check_tool_inputs:
            return []
        tool_name = name or (serialized or {}).get("name") or "tool"
        part = tool_call_part(str(tool_name), inputs if isinstance(inputs, dict) else input_str)
        return [(agent_turn(None, [part]), "tool_args")]

    def retriever_end(self, documents: Sequence[Document]) -> _Checks:
        if not self.check_retrieval:
            return []
        return [(user_turn(document_content(doc)), "document") for doc in documents]

    def settle(self, checks: _Checks, verdicts: Sequence[Verdict]) -> None:
        """Abort (raise) on the first unsafe verdict, or log it when not raising."""
        for (_, stage), verdict in zip(checks, verdicts, strict=True):
            if verdict.safe:
                continue
            error = UnsafeContentError(verdict, stage)
            if self.raise_error:
                raise error
            logger.warning("llamashield (callbacks, not aborting): %s", error)


class LlamaGuardCallbackHandler(BaseCallbackHandler):
    """Judge chat model inputs and outputs, tool inputs and retrieved documents; abort if unsafe.

    One handler for sync and async code, with plain (sync) event methods: LangChain's sync
    manager calls them in the run, its async manager in its executor (``run_inline`` is
    off), and both re-raise their errors with ``raise_error=True``, so the handler can abort
    every run: ``invoke``, ``ainvoke``, sync-only components under ``ainvoke``, and sync
    ``invoke`` called inside a running event loop. (An ``AsyncCallbackHandler`` could not:
    LangChain swallows its errors on the sync path.) Under ``ainvoke`` a check therefore
    runs on a worker thread with the guard's sync client; for checks awaited on the loop,
    use ``guard_runnable``, ``GuardedChatModel`` or ``LlamaGuardMiddleware``.

    Example::

        handler = LlamaGuardCallbackHandler(guard)
        chain.invoke({"question": q}, config={"callbacks": [handler]})
        # raises UnsafeContentError (stage "input", "output", "tool_args" or "document")

    Args:
        guard: the ``LlamaGuard`` that judges.
        raise_error: abort the run by raising ``UnsafeContentError`` (default). ``False`` only
            logs unsafe verdicts (audit mode).
        check_input: judge the user's newest message before a chat model (or LLM) runs: an
            unsafe one aborts the run before the model is called.
        check_output: judge each answer (as the Agent's reply) when the model ends.
        check_tool_inputs: judge a tool's arguments before it runs.
        check_retrieval: judge retrieved documents (any unsafe one aborts the run).
        shadow: judge and record, never abort (unlike ``raise_error=False``, verdicts carry
            ``would_block`` and checks are traced as shadow); default: the guard's ``shadow``.

    Limits: callbacks cannot replace content, only abort; tokens a model streams reach other
    callbacks and stream consumers before ``on_llm_end`` judges the answer.
    """

    def __init__(
        self,
        guard: LlamaGuard,
        *,
        raise_error: bool = True,
        check_input: bool = True,
        check_output: bool = True,
        check_tool_inputs: bool = True,
        check_retrieval: bool = True,
        shadow: bool | None = None,
    ) -> None:
        self.raise_error = raise_error
        self.guard = guard.with_shadow(shadow)
        self.events = _GuardEvents(
            raise_error=raise_error,
            check_input=check_input,
            check_output=check_output,
            check_tool_inputs=check_tool_inputs,
            check_retrieval=check_retrieval,
        )

    # -- the only I/O: judge a batch of checks (sync; see the class doc for async runs) ---

    def _judge(self, checks: _Checks) -> None:
        if checks:
            run_plan(self._judged(checks), self.guard)

    def _judged(self, checks: _Checks) -> Plan[None]:
        """Judge the checks (a model's input whole, its answer as the one new turn after its
        context, so the next model call finds it judged; the rest at once), then settle."""
        plain = [c for c, _ in checks if not isinstance(c, JudgeConversation)]
        rest = iter((yield Judge(plain)))
        verdicts: list[Verdict] = []
        for check, _ in checks:
            verdicts.append((yield check) if isinstance(check, JudgeConversation) else next(rest))
        self.events.settle(checks, verdicts)

    # -- events -----------------------------------------------------------------------------

    def on_chat_model_start(
        self, serialized: Any, messages: list[list[BaseMessage]], *, run_id: UUID, **kw: Any
    ) -> None:
        self._judge(self.events.chat_model_start(run_id, messages))

    def on_llm_start(self, serialized: Any, prompts: list[str], *, run_id: UUID, **kw: Any) -> None:
        self._judge(self.events.llm_start(run_id, prompts))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kw: Any) -> None:
        self._judge(self.events.llm_end(run_id, response))

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> None:
        self.events.forget(run_id)

    def on_tool_start(
        self, serialized: Any, input_str: str, *, inputs: Any = None, **kw: Any
    ) -> None:
        self._judge(self.events.tool_start(serialized, input_str, inputs, kw.get("name")))

    def on_retriever_end(self, documents: Sequence[Document], **kw: Any) -> None:
        self._judge(self.events.retriever_end(documents))
