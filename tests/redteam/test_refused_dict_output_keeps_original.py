"""guard_runnable(..., on_unsafe="refuse") around a chain whose output is a dict (a retrieval
chain's {"answer", "context", ...}, any RunnableParallel) judges EVERY value of the output, and
when that is unsafe "refuses" by returning the same dict with its str/message values replaced
(_on_unsafe.refusal_like: `refusal_like(value) if isinstance(value, str | BaseMessage) else
value`). Lists (retrieved passages, sources) and nested dicts are returned as they were: the
very content that made the output unsafe reaches the consumer beside the refusal. Same through
LlamaGuardRunnable(role="agent", on_unsafe="refuse") at the end of a chain."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.runnables import RunnableLambda
from langchain_llamashield import LlamaGuardRunnable, guard_runnable

from tests._support.last_turn import TRIGGER, last_turn_guard, leaks


def answer(_: Any) -> dict[str, Any]:
    return {
        "answer": "Here is what I found.",
        "sources": [f"passage: {TRIGGER} PAYLOAD"],
        "extra": {"note": f"{TRIGGER} PAYLOAD"},
    }


def test_a_refused_dict_output_carries_none_of_the_original() -> None:
    guard, _ = last_turn_guard()
    chain = guard_runnable(RunnableLambda(answer), guard, on_unsafe="refuse")
    sync = chain.invoke({"question": "what do you know?"})
    async_ = asyncio.run(chain.ainvoke({"question": "what do you know?"}))
    assert "can't help" in repr(sync)  # it was refused...
    assert not leaks(sync), f"...yet the refusal carries the unsafe content: {sync}"
    assert not leaks(async_), async_


def test_an_agent_role_step_refusing_a_dict_carries_none_of_it() -> None:
    guard, _ = last_turn_guard()
    step = LlamaGuardRunnable(guard, role="agent", on_unsafe="refuse")
    out = (RunnableLambda(answer) | step).invoke("q")
    assert "can't help" in repr(out)
    assert not leaks(out), out


def test_control_the_str_values_are_replaced() -> None:
    guard, _ = last_turn_guard()
    chain = guard_runnable(RunnableLambda(answer), guard, on_unsafe="refuse")
    out = chain.invoke({"question": "what do you know?"})
    assert "can't help" in out["answer"]
