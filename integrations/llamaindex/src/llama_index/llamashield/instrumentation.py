"""``LlamaGuardEventHandler``: audit LLM and query traffic with Llama Guard verdicts.

Instrumentation **cannot block**: the dispatcher swallows every exception a handler raises,
and events fire after the fact (an ``LLMChatEndEvent`` arrives once the answer exists). Use it
to see what passes through code you cannot wrap; to stop unsafe content, use
``GuardedQueryEngine``, ``GuardedChatEngine``, ``LlamaGuardNodePostprocessor``, ``guard_tool``
or ``guard_agent``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMCompletionEndEvent,
)
from llama_index.core.instrumentation.events.query import QueryEndEvent, QueryStartEvent
from llama_index.core.schema import QueryBundle
from llama_index.llamashield._inputs import messages_conversation
from llama_index.llamashield._judging import agent_turn, check_guard

from llamashield import LlamaGuard, Verdict

__all__ = ["AuditRecord", "LlamaGuardEventHandler"]

audit_logger = logging.getLogger("llamashield.audit")


@dataclass(frozen=True)
class AuditRecord:
    """One judged event: which event, which span, what was judged (input/output), the verdict."""

    event: str
    span_id: str | None
    stage: str
    text: str
    verdict: Verdict


class LlamaGuardEventHandler(BaseEventHandler):
    """Judge queries, answers and LLM calls seen by the instrumentation dispatcher (audit only).

    Checks run on a small thread pool by default (``background=True``), so auditing adds no
    latency to the pipeline; ``flush()`` waits for them. Every verdict is kept in ``records``
    (the latest ``max_records``), logged on ``llamashield.audit`` (unsafe ones at WARNING) and
    passed to ``on_verdict`` if given. It cannot block anything: see the module doc.

    Example::

        import llama_index.core.instrumentation as instrument
        from llama_index.llamashield import LlamaGuardEventHandler

        handler = LlamaGuardEventHandler(guard)
        instrument.get_dispatcher().add_event_handler(handler)
        engine.query("...")
        handler.flush()
        [r for r in handler.records if not r.verdict.safe]
    """

    _guard: LlamaGuard = PrivateAttr()
    _on_verdict: Callable[[AuditRecord], Any] | None = PrivateAttr(default=None)
    _pool: ThreadPoolExecutor | None = PrivateAttr(default=None)
    _pending: set[Future[None]] = PrivateAttr(default_factory=set)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _records: deque[AuditRecord] = PrivateAttr()

    def __init__(
        self,
        guard: LlamaGuard,
        *,
        on_verdict: Callable[[AuditRecord], Any] | None = None,
        background: bool = True,
        max_records: int = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._guard = check_guard(guard)
        self._on_verdict = on_verdict
        self._records = deque(maxlen=max_records)
        if background:
            self._pool = ThreadPoolExecutor(2, thread_name_prefix="llamashield-audit")

    @classmethod
    def class_name(cls) -> str:
        return "LlamaGuardEventHandler"

    @property
    def records(self) -> list[AuditRecord]:
        with self._lock:
            return list(self._records)

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        judged = _what_to_judge(event)
        if judged is None:
            return
        if self._pool is None:
            self._judge(event, *judged)
            return
        future = self._pool.submit(self._judge, event, *judged)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def flush(self, timeout: float | None = None) -> None:
        """Wait for the checks still running in the background."""
        with self._lock:
            pending = set(self._pending)
        wait(pending, timeout=timeout)

    def close(self) -> None:
        """Wait for pending checks and stop the worker threads (detach the handler first)."""
        self.flush()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _judge(self, event: BaseEvent, stage: str, text: str, conversation: Any) -> None:
        verdict = self._guard.check(conversation)
        record = AuditRecord(event.class_name(), event.span_id, stage, text, verdict)
        with self._lock:
            self._records.append(record)
        level = logging.INFO if verdict.safe else logging.WARNING
        audit_logger.log(
            level, "llamashield audit %s %s span=%s: %s", record.event, stage, record.span_id,
            verdict,
        )  # fmt: skip
        if self._on_verdict is not None:
            self._on_verdict(record)


def _query_text(query: Any) -> str:
    return query.query_str if isinstance(query, QueryBundle) else str(query)


def _what_to_judge(event: BaseEvent) -> tuple[str, str, Any] | None:
    """(stage, text, conversation) for the events worth a verdict; None for the others."""
    if isinstance(event, QueryStartEvent):
        text = _query_text(event.query)
        return ("input", text, text) if text else None
    if isinstance(event, QueryEndEvent):
        answer = str(getattr(event.response, "response", "") or "")
        if not answer or not hasattr(event.response, "response"):
            return None  # a stream: its text does not exist yet
        return "output", answer, agent_turn(_query_text(event.query), answer)
    if isinstance(event, LLMChatEndEvent):
        if event.response is None:
            return None
        answer = event.response.message.content or ""
        turns = [*messages_conversation(event.messages), {"role": "assistant", "content": answer}]
        return ("output", answer, turns) if answer else None
    if isinstance(event, LLMCompletionEndEvent):
        answer = event.response.text or ""
        return ("output", answer, agent_turn(event.prompt, answer)) if answer else None
    return None
