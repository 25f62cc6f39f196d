"""A trigger planted in content, and a guard that finds it in any turn it is shown.

``TriggerBackend`` answers unsafe (S8) whenever the trigger appears in ANY turn of what it was
shown, so "the guard was shown the trigger" and "the call was blocked" are the same event: a
property only has to check that no fake (model, tool, callback, consumer) ever saw it. Both
adapters' judge-or-block properties use it; each plants the trigger in its framework's shapes.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend
from llamashield.backends._base import BackendAnswer, GuardRequest

TRIGGER = "zqxtrigger"


class TriggerBackend(SimulatedBackend):
    """Unsafe (S8) when the trigger is anywhere in the conversation shown; records it all."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[str] = []

    def _answer(self, request: GuardRequest) -> BackendAnswer:
        self.calls += 1
        text = "\n".join(turn.content for turn in request.conversation)
        self.shown.append(text)
        if TRIGGER in text:
            return BackendAnswer("unsafe\nS8", 0.97, self.model)
        return BackendAnswer("safe", 0.02, self.model)


def trigger_guard() -> LlamaGuard:
    return LlamaGuard(TriggerBackend())


def leaks(value: Any) -> bool:
    """Whether ``value`` (anything: messages, chunks, dicts) still carries the trigger."""
    return TRIGGER in repr(value)


_words = st.lists(st.sampled_from(["the", "weather", "is", "mild", "today", "ok"]), max_size=3)
carrier = st.tuples(_words, _words).map(lambda p: " ".join([*p[0], TRIGGER, *p[1]]))
"""A short text with the trigger somewhere in it."""
