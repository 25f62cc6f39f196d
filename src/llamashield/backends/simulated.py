"""``SimulatedBackend``: keyword rules standing in for Llama Guard, offline. Never a safety tool."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from llamashield._taxonomy import LLAMA_GUARD_2, Taxonomy
from llamashield.backends._base import BackendAnswer, BaseBackend, Capabilities, GuardRequest
from llamashield.backends._rules import DEFAULT_RULES, compile_rules, simulate_answer

__all__ = ["SimulatedBackend"]


class SimulatedBackend(BaseBackend):
    """Deterministic keyword rules in Llama Guard's answer format, for demos and tests.

    It judges the last turn only, answers in the request's taxonomy, gives a score (0.97 or
    0.02) and can add ``latency`` seconds per call. It catches the obvious ("bomb", "kill
    myself") and nothing subtle: **never use it to protect anything**.

    Example::

        guard = LlamaGuard(SimulatedBackend(rules={r"\\bpineapple pizza\\b": "S9"}))
        guard.check("I love pineapple pizza").safe     # False
    """

    def __init__(
        self,
        *,
        model: str = "simulated/llama-guard-2",
        taxonomy: Taxonomy = LLAMA_GUARD_2,
        latency: float = 0.0,
        rules: Mapping[str, str] | None = None,
    ) -> None:
        if latency < 0:
            raise ValueError(f"latency must be >= 0 seconds, got {latency}")
        self.model = model
        self.taxonomy = taxonomy
        self.latency = latency
        self._rules = compile_rules(rules) if rules else DEFAULT_RULES
        # Every answer has a score, and the request's taxonomy (custom categories included) is
        # what the rules answer in. The rules decide every answer: two backends with other
        # rules never share a cached one.
        self._capabilities = Capabilities(
            gives_scores=True,
            sends_prompt=True,
            provider="llamashield.simulated",
            cache_settings=("rules", [[p.pattern, p.flags, code] for p, code in self._rules]),
        )
        self.calls = 0

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def __repr__(self) -> str:
        return f"SimulatedBackend(model={self.model!r}, latency={self.latency})"

    def _answer(self, request: GuardRequest) -> BackendAnswer:
        self._ensure_open()
        self.calls += 1
        text, score = simulate_answer(
            request.conversation[-1].content, request.taxonomy, self._rules
        )
        return BackendAnswer(text, score, self.model)

    def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        if self.latency:
            time.sleep(self.latency)
        return self._answer(request)

    async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        if self.latency:
            await asyncio.sleep(self.latency)
        return self._answer(request)
