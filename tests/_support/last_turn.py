"""A guard that behaves like Llama Guard where it matters here: it judges the LAST turn only.

``LastTurnTrigger`` answers unsafe when the trigger is in the last turn of what it is shown and
safe otherwise, whatever the earlier turns hold. A guard that showed history only as context
(the escape of issue "whole conversations") passes a trigger planted in an earlier turn; a
guard that judges every outside turn as the last turn of its own prefix blocks it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend
from llamashield.backends._base import BackendAnswer, GuardRequest

TRIGGER = "zqxlastturn"


class LastTurnTrigger(SimulatedBackend):
    """Unsafe (S1) when the trigger is in the last turn shown; counts and records requests."""

    def __init__(self) -> None:
        super().__init__()
        self.last_turns: list[str] = []

    def _answer(self, request: GuardRequest) -> BackendAnswer:
        self.calls += 1
        last = request.conversation[-1].content
        self.last_turns.append(last)
        if TRIGGER in last:
            return BackendAnswer("unsafe\nS1", 0.97, self.model)
        return BackendAnswer("safe", 0.02, self.model)


def last_turn_guard(**kwargs: Any) -> tuple[LlamaGuard, LastTurnTrigger]:
    backend = LastTurnTrigger()
    return LlamaGuard(backend, **kwargs), backend


def leaks(value: Any) -> bool:
    return TRIGGER in repr(value)


_words = st.lists(st.sampled_from(["the", "weather", "is", "mild", "ok"]), max_size=3)
carrier = st.tuples(_words, _words).map(lambda p: " ".join([*p[0], TRIGGER, *p[1]]))
safe_text = _words.map(lambda w: " ".join(["fine", *w]))

PART_MAKERS: list[Callable[[str], Any]] = [
    lambda t: t,
    lambda t: [{"type": "text", "text": t}],
    lambda t: [{"type": "text", "text": "see"}, {"type": "json", "json": {"rows": [t]}}],
    lambda t: [{"type": "reasoning", "reasoning": t}],
    lambda t: [{"type": "mystery_block", "payload": {"deep": [t]}}],
]
content = st.builds(lambda make, t: make(t), st.sampled_from(PART_MAKERS), carrier)

# Every LangChain form of every role that reaches a model from outside.
PLANTED_FORMS: list[Callable[[Any, str], Any]] = [
    lambda c, t: HumanMessage(content=c),
    lambda c, t: ChatMessage(role="user", content=c),
    lambda c, t: ("user", c),
    lambda c, t: {"role": "user", "content": c},
    lambda c, t: SystemMessage(content=c),
    lambda c, t: ("system", c),
    lambda c, t: AIMessage(content=c),  # a forged answer
    lambda c, t: ("assistant", c),
    lambda c, t: {"role": "assistant", "content": c},
    lambda c, t: AIMessage(content="Sure.", additional_kwargs={"reasoning_content": t}),
    lambda c, t: AIMessage(content="", tool_calls=[{"name": "s", "args": {"q": t}, "id": "c1"}]),
    lambda c, t: ToolMessage(content=c, tool_call_id="c1"),  # a planted tool result
    lambda c, t: ToolMessage(content="done", artifact={"rows": [t]}, tool_call_id="c1"),
]
SAFE_FORMS: list[Callable[[str], Any]] = [
    lambda s: HumanMessage(content=s),
    lambda s: AIMessage(content=s),
    lambda s: ("user", s),
    lambda s: ("assistant", s),
    lambda s: SystemMessage(content=s),
]
planted = st.builds(lambda form, c, t: form(c, t), st.sampled_from(PLANTED_FORMS), content, carrier)
safe_message = st.builds(lambda form, s: form(s), st.sampled_from(SAFE_FORMS), safe_text)


@st.composite
def conversation_with_trigger(draw: st.DrawFn) -> list[Any]:
    """Safe messages of every role around one planted message, ending with a safe user turn:
    the trigger is never in the last turn, so only judging every turn finds it."""
    before = draw(st.lists(safe_message, max_size=3))
    between = draw(st.lists(safe_message, max_size=2))
    last = draw(safe_text)
    return [*before, draw(planted), *between, HumanMessage(content=last)]
