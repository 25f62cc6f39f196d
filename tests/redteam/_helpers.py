"""Shared by the red-team reproductions: a guard that judges the LAST turn only (as Llama Guard
does), unsafe when TRIGGER is in it."""

from __future__ import annotations

from typing import Any

from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend
from llamashield.backends._base import BackendAnswer, GuardRequest

TRIGGER = "zqxlastturn"


class LastTurnTrigger(SimulatedBackend):
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
