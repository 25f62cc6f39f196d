"""guard_runnable judges the history a RunnableWithMessageHistory loads only when it is the
wrapped runnable or the first step of a sequence, through RunnableBinding (_history.
_with_history). The common LCEL spellings that put a step before it, or wrap it, hide it: a
dict coerced to RunnableParallel (`{"question": itemgetter("q")} | history_chain`),
`RunnablePassthrough.assign(...) | history_chain`, `history_chain.with_fallbacks([...])`. The
stored history (a store filled elsewhere) then reaches the model unjudged, as in the first
red team's test_message_history_store_unjudged. `history_chain.with_retry()` (RunnableRetry is a
RunnableBindingBase, not a RunnableBinding) was the same escape; fixed in _history.py."""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnablePassthrough
from langchain_llamashield import guard_runnable
from langchain_llamashield.testing import ScriptedChatModel

from tests._support.last_turn import TRIGGER, last_turn_guard
from tests.redteam.test_message_history_store_unjudged import CONFIG, _chain

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the history classes


def _history_chain() -> tuple[Runnable[Any, Any], ScriptedChatModel]:
    chain, model, _ = _chain([HumanMessage("hi"), AIMessage(f"Sure! {TRIGGER} PAYLOAD")])
    return chain, model


SPELLINGS: dict[str, Callable[[Runnable[Any, Any]], Runnable[Any, Any]]] = {
    "dict_first": lambda h: {"question": itemgetter("question")} | h,
    "assign_first": lambda h: RunnablePassthrough.assign(extra=lambda _: 1) | h,
    "with_fallbacks": lambda h: h.with_fallbacks([h]),
}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_the_stored_history_is_judged_wherever_the_chain_starts(spelling: str) -> None:
    history, model = _history_chain()
    guarded = guard_runnable(SPELLINGS[spelling](history), last_turn_guard()[0], on_unsafe="refuse")
    guarded.invoke({"question": "go on"}, config=CONFIG)
    assert model.calls == 0, "the model read the planted stored history"


def test_with_retry_is_seen_through() -> None:
    history, model = _history_chain()
    guarded = guard_runnable(history.with_retry(), last_turn_guard()[0], on_unsafe="refuse")
    guarded.invoke({"question": "go on"}, config=CONFIG)
    assert model.calls == 0, "the model read the planted stored history"


def test_control_the_bare_history_chain_is_judged() -> None:
    history, model = _history_chain()
    guard_runnable(history, last_turn_guard()[0], on_unsafe="refuse").invoke(
        {"question": "go on"}, config=CONFIG
    )
    assert model.calls == 0
