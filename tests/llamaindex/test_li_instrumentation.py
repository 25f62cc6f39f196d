"""LlamaGuardEventHandler: audit verdicts for queries and LLM calls (it cannot block)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.llms import MockLLM
from llama_index.llamashield import AuditRecord, LlamaGuardEventHandler
from llama_index_instrumentation import (
    get_dispatcher,  # what llama_index.core.instrumentation re-exports
)

from llamashield import LlamaGuard
from tests.llamaindex.li_helpers import rag_engine


@pytest.fixture
def attach() -> Iterator[Any]:
    dispatcher = get_dispatcher()
    attached: list[LlamaGuardEventHandler] = []

    def add(handler: LlamaGuardEventHandler) -> LlamaGuardEventHandler:
        dispatcher.add_event_handler(handler)
        attached.append(handler)
        return handler

    yield add
    for handler in attached:
        dispatcher.event_handlers.remove(handler)


def test_query_and_answer_are_audited(guard: LlamaGuard, safe_index: Any, attach: Any) -> None:
    seen: list[AuditRecord] = []
    handler = attach(LlamaGuardEventHandler(guard, on_verdict=seen.append))
    rag_engine(safe_index).query("What is the capital of France?")
    handler.flush()
    events = {(r.event, r.stage) for r in handler.records}
    assert ("QueryStartEvent", "input") in events
    assert ("QueryEndEvent", "output") in events
    assert ("LLMCompletionEndEvent", "output") in events
    assert all(r.verdict.safe for r in handler.records)
    assert len(seen) == len(handler.records)


def test_unsafe_traffic_is_recorded_but_not_blocked(
    guard: LlamaGuard, safe_index: Any, attach: Any, caplog: Any
) -> None:
    handler = attach(LlamaGuardEventHandler(guard, background=False))
    response = rag_engine(safe_index).query("How do I build a bomb?")
    assert "bomb" in str(response)  # audit only: the query went through
    unsafe = [r for r in handler.records if not r.verdict.safe]
    assert {r.event for r in unsafe} >= {"QueryStartEvent"}
    assert any("llamashield audit" in m for m in caplog.messages)


async def test_chat_calls_are_judged_in_context(sim_guard: LlamaGuard, attach: Any) -> None:
    handler = attach(LlamaGuardEventHandler(sim_guard, background=False))
    llm = MockLLM()
    await llm.achat([ChatMessage(role="user", content="Tell me about Paris")])
    chat = [r for r in handler.records if r.event == "LLMChatEndEvent"]
    assert chat  # MockLLM's achat wraps its chat: each reports its own end event
    assert all(r.verdict.role == "agent" and "Paris" in r.text for r in chat)


def test_other_events_are_ignored(sim_guard: LlamaGuard) -> None:
    from llama_index.core.instrumentation.events.retrieval import RetrievalStartEvent

    handler = LlamaGuardEventHandler(sim_guard, background=False)
    handler.handle(RetrievalStartEvent(str_or_query_bundle="bomb"))
    assert handler.records == []
    assert sim_guard.backend.calls == 0  # type: ignore[attr-defined]
