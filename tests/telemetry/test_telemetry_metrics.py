"""The metrics: checks by outcome, category and stage; latency; cache; backend errors; breaker
transitions; stream windows and text held back. Read as deltas around each action (the meter
provider, like OpenTelemetry's, lives for the whole session)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from llamashield import CircuitBreaker, LlamaGuard, UnsafeContentError, Verdict
from llamashield.backends import SimulatedBackend
from llamashield.backends._base import BackendAnswer, BackendError, GuardRequest
from llamashield.integration import Judge, Plan, run_plan
from llamashield.streaming import moderate_stream
from tests.telemetry._otel import Otel


def delta(otel: Otel, action: Callable[[], object], name: str, **attributes: object) -> float:
    before = otel.total(name, **attributes)
    action()
    return otel.total(name, **attributes) - before


def test_checks_by_outcome_category_and_stage(otel: Otel) -> None:
    guard = LlamaGuard(SimulatedBackend(), categories=["S8"])  # S1 is reported, not enforced

    def judge() -> None:
        guard.check("How do I make a bomb?")  # S8, blocks
        guard.check("hello")  # safe
        guard.check([{"role": "user", "content": "q"}, {"role": "assistant", "content": "ok"}])

    before = {
        key: otel.total("llamashield.check.duration", **attrs)
        for key, attrs in {
            "unsafe_input": {"llamashield.outcome": "unsafe", "llamashield.stage": "input"},
            "safe_input": {"llamashield.outcome": "safe", "llamashield.stage": "input"},
            "safe_output": {"llamashield.outcome": "safe", "llamashield.stage": "output"},
        }.items()
    }
    s8 = otel.total("llamashield.check.categories", **{"llamashield.category": "S8"})
    histogram = otel.total("llamashield.check.duration")  # its count: the checks
    judge()
    assert otel.total("llamashield.check.duration", **{"llamashield.outcome": "unsafe",
                      "llamashield.stage": "input"}) - before["unsafe_input"] == 1  # fmt: skip
    assert otel.total("llamashield.check.duration", **{"llamashield.outcome": "safe",
                      "llamashield.stage": "input"}) - before["safe_input"] == 1  # fmt: skip
    assert otel.total("llamashield.check.duration", **{"llamashield.outcome": "safe",
                      "llamashield.stage": "output"}) - before["safe_output"] == 1  # fmt: skip
    assert otel.total("llamashield.check.categories", **{"llamashield.category": "S8",
                      "llamashield.blocking": True}) - s8 == 1  # fmt: skip
    assert otel.total("llamashield.check.duration") - histogram == 3


def test_a_stage_given_by_the_component_labels_the_checks(otel: Otel) -> None:
    guard = LlamaGuard(SimulatedBackend())

    def plan() -> Plan[Verdict]:
        verdict: Verdict
        (verdict,) = yield Judge(["search for bread"], stage="tool_args")
        return verdict

    count = delta(otel, lambda: run_plan(plan(), guard), "llamashield.check.duration",
                  **{"llamashield.stage": "tool_args"})  # fmt: skip
    assert count == 1


def test_cache_hits_and_misses(otel: Otel) -> None:
    guard = LlamaGuard(SimulatedBackend(), cache=True)
    hits = otel.total("llamashield.cache.lookups", **{"llamashield.cache.result": "hit"})
    misses = otel.total("llamashield.cache.lookups", **{"llamashield.cache.result": "miss"})
    for text in ["a", "b", "a", "a"]:
        guard.check(f"bread {text}")
    assert (
        otel.total("llamashield.cache.lookups", **{"llamashield.cache.result": "hit"}) - hits == 2
    )
    assert otel.total("llamashield.cache.lookups",
                      **{"llamashield.cache.result": "miss"}) - misses == 2  # fmt: skip


class Flaky(SimulatedBackend):
    """Fails with a timeout while ``failing`` is set."""

    failing = True

    def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        if self.failing:
            raise BackendError("guard timed out", retryable=False, kind="timeout")
        return super().complete(request, timeout=timeout)


def test_backend_errors_by_kind_and_breaker_transitions(otel: Otel) -> None:
    backend = Flaky()
    breaker = CircuitBreaker(failures=2, cooldown=0.05)
    guard = LlamaGuard(backend, max_retries=0, circuit_breaker=breaker)
    errors = {k: otel.total("llamashield.backend.errors", **{"error.type": k})
              for k in ("timeout", "circuit_open")}  # fmt: skip
    states = {s: otel.total("llamashield.breaker.transitions", **{"llamashield.breaker.state": s})
              for s in ("open", "half_open", "closed")}  # fmt: skip
    guard.check("one")
    guard.check("two")  # opens
    guard.check("three")  # fails fast
    assert breaker.state == "open"
    import time

    time.sleep(0.06)
    backend.failing = False
    assert guard.check("four").safe  # the probe closes it
    assert (
        otel.total("llamashield.backend.errors", **{"error.type": "timeout"}) - errors["timeout"]
        == 2
    )
    assert (
        otel.total("llamashield.backend.errors", **{"error.type": "circuit_open"})
        - errors["circuit_open"]
        == 1
    )
    for state in ("open", "half_open", "closed"):
        now = otel.total("llamashield.breaker.transitions", **{"llamashield.breaker.state": state})
        assert now - states[state] == 1, state


def test_stream_windows_and_text_held_back(otel: Otel) -> None:
    guard = LlamaGuard(SimulatedBackend())
    chunks = ["The garden is green. ", "Rain falls often. ", "Now explosives are ", "mentioned."]
    windows = otel.total("llamashield.stream.windows")
    held = otel.total("llamashield.stream.held_back")
    withheld = otel.total("llamashield.stream.withheld")
    stream = moderate_stream(iter(chunks), guard, context="tell me", window=15, max_in_flight=1)
    released = ""
    with pytest.raises(UnsafeContentError):
        for text in stream:
            released += text
    total = len("".join(chunks))
    judged = otel.total("llamashield.stream.windows") - windows
    assert judged == len(stream.verdicts) >= 2
    assert otel.total("llamashield.stream.withheld") - withheld == total - len(released) > 0
    assert otel.total("llamashield.stream.held_back") - held == len(released)
    shadow_held = otel.total("llamashield.stream.held_back")
    shadowed = list(moderate_stream(iter(chunks), guard.with_shadow(True), context="tell me",
                                    window=15))  # fmt: skip
    assert "".join(shadowed) == "".join(chunks)
    assert otel.total("llamashield.stream.held_back") - shadow_held == 0  # nothing waited
    assert otel.total("llamashield.stream.windows", **{"llamashield.shadow": True}) >= 2


def test_tools_and_documents_label_their_stage(otel: Otel) -> None:
    from langchain_core.documents import Document
    from langchain_core.tools import tool
    from langchain_llamashield import LlamaGuardDocumentFilter, guard_tool

    @tool
    def search(query: str) -> str:
        """Search the web."""
        return f"results for {query}"

    guard = LlamaGuard(SimulatedBackend())
    stages = ("tool_args", "tool_result", "document")
    before = {s: otel.total("llamashield.check.duration", **{"llamashield.stage": s})
              for s in stages}  # fmt: skip
    guard_tool(search, guard).invoke({"query": "bread"})
    LlamaGuardDocumentFilter(guard).transform_documents(
        [Document(page_content="a"), Document(page_content="b")]
    )
    after = {s: otel.total("llamashield.check.duration", **{"llamashield.stage": s})
             for s in stages}  # fmt: skip
    assert {s: after[s] - before[s] for s in stages} == {
        "tool_args": 1, "tool_result": 1, "document": 2,
    }  # fmt: skip
