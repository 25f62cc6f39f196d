"""A guard backend that answers from a script: safe, unsafe, an error, or garbage."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Literal

from hypothesis import strategies as st

from llamashield.backends import SimulatedBackend
from llamashield.backends._base import BackendAnswer, BackendError, GuardRequest

Answer = Literal["safe", "unsafe", "error", "garbage"]
ANSWERS: tuple[Answer, ...] = ("safe", "unsafe", "error", "garbage")
scripts = st.lists(st.sampled_from(ANSWERS), min_size=1, max_size=8)


class ScriptBackend(SimulatedBackend):
    """Answers in the order of ``script``, cycling; counts its calls."""

    def __init__(self, script: Sequence[Answer]) -> None:
        super().__init__(model="scripted/llama-guard-2")
        self.script = list(script)
        self._lock = threading.Lock()
        self.answered: list[Answer] = []

    def _answer(self, request: GuardRequest) -> BackendAnswer:
        with self._lock:
            kind = self.script[len(self.answered) % len(self.script)]
            self.answered.append(kind)
        if kind == "error":
            raise BackendError("scripted outage", retryable=False, status_code=503, kind="http")
        text = {"safe": "safe", "unsafe": "unsafe\nS1", "garbage": "the weather is nice"}[kind]
        return BackendAnswer(text, None, self.model)
