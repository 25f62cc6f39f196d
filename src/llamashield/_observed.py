"""What a check records around itself, and the one place shadow mode decides.

``Observed`` wraps one check (sync or async alike: ``with Observed(...) as seen: seen.verdict =
...``): it opens the check's span under the caller's current span, records the verdict's
attributes and metrics, and in shadow mode turns the outcome into a verdict that passes:

- an enforcing verdict is returned as it is;
- in shadow mode the verdict is returned with ``safe=True``, ``shadow=True`` and
  ``would_block`` saying what enforcing would have done; every adapter decides on ``safe``, so
  nothing is blocked, refused or rerouted anywhere, and the record (metadata, callbacks,
  instrumentation events, spans, metrics, the log line) still shows the real judgement;
- an error in shadow mode (``on_error="raise"``, input the guard cannot read, a backend bug)
  is suppressed and becomes such a verdict, with ``error`` set: a shadow guard never fails the
  pipeline it watches.

The plain path (no OpenTelemetry, not in shadow mode) never builds one of these.
"""

from __future__ import annotations

import logging
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from llamashield import _telemetry
from llamashield._telemetry import OPERATION, content_attributes, current_stage, redact
from llamashield._verdict import Verdict

if TYPE_CHECKING:
    from collections.abc import Sequence

    from llamashield._conversation import Turn
    from llamashield._guard import LlamaGuard
    from llamashield._telemetry import Telemetry

__all__ = ["Observed", "failed_verdict", "shadow_verdict"]

logger = logging.getLogger("llamashield")


def shadow_verdict(verdict: Verdict) -> Verdict:
    """``verdict`` as shadow mode returns it: passing, with what enforcing would have done."""
    update = {"safe": True, "shadow": True, "would_block": not verdict.safe}
    return verdict.model_copy(update=update)


def failed_verdict(guard: LlamaGuard, error: BaseException) -> Verdict:
    """The shadow verdict of a check that raised: it passes, and would have blocked (or failed
    the pipeline) when enforced."""
    message = redact(f"{type(error).__name__}: {error}")
    return Verdict(safe=True, shadow=True, would_block=True, model=guard.model, error=message)


class Observed:
    """One check's span, metrics and shadow decision (see the module doc)."""

    __slots__ = (
        "_span", "_started", "_telemetry", "_token", "conversation", "guard", "turns", "verdict",
    )  # fmt: skip

    def __init__(
        self,
        guard: LlamaGuard,
        telemetry: Telemetry | None,
        conversation: Any,
        *,
        turns: Sequence[Turn] | None = None,
    ) -> None:
        """``conversation`` as the caller passed it, or ``turns`` already read (only read
        again to trace content, when opted in)."""
        self.guard = guard
        self._telemetry = telemetry
        self.conversation = conversation
        self.turns = turns
        self.verdict: Verdict | None = None
        self._span: Any = None
        self._token: Any = None
        self._started = 0.0

    def __enter__(self) -> Observed:
        telemetry = self._telemetry
        self._started = time.perf_counter()
        if telemetry is not None:
            guard = self.guard
            # Few attributes, and only those that say something: the SDK validates each one
            # on every span. An absent shadow or breaker state means false and closed.
            attributes: dict[str, Any] = {
                "gen_ai.operation.name": OPERATION,
                "gen_ai.request.model": guard.model,
                "gen_ai.provider.name": _provider(guard),
            }
            if guard.shadow:
                attributes["llamashield.shadow"] = True
            breaker = guard.circuit_breaker
            if breaker is not None and breaker.is_open:
                attributes["llamashield.breaker.state"] = breaker.state
            self._span = span = telemetry.tracer.start_span(
                f"{OPERATION} {guard.model}", kind=telemetry.span_kind_client, attributes=attributes
            )
            self._token = telemetry.context.attach(telemetry.trace.set_span_in_context(span))
        return self

    def result(self) -> Verdict:
        """The verdict to return (set by the check, or by shadow mode from its error)."""
        if self.verdict is None:  # only reachable if the block ended without setting it
            raise RuntimeError("the observed check set no verdict")
        return self.verdict

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        suppress = False
        if error is not None:
            if not self.guard.shadow or not isinstance(error, Exception):
                self._end(None, error)
                return False  # enforcing (or a cancellation): the caller sees the error
            self.verdict = failed_verdict(self.guard, error)
            suppress = True
        verdict = self.verdict
        if verdict is not None and self.guard.shadow:
            if not verdict.shadow:
                verdict = self.verdict = shadow_verdict(verdict)
            if verdict.would_block:
                logger.info(
                    "llamashield shadow: would block stage=%s role=%s codes=%s error=%s",
                    _telemetry.current_stage(verdict.role), verdict.role,
                    ",".join(verdict.codes) or "-", verdict.error,
                )  # fmt: skip
        self._end(verdict, error if not suppress else None)
        return suppress

    def _end(self, verdict: Verdict | None, error: BaseException | None) -> None:
        telemetry = self._telemetry
        if telemetry is None:
            return
        seconds = time.perf_counter() - self._started
        span = self._span
        role = verdict.role if verdict is not None else None
        stage = current_stage(role)
        try:
            if verdict is None:
                if span.is_recording():
                    span.set_attribute("llamashield.stage", stage)
                    span.set_attribute("error.type", type(error).__name__)
                    span.set_status(telemetry.Status(telemetry.status_error, redact(str(error))))
            else:
                _telemetry.tally(not verdict.safe)
                if span.is_recording():
                    span.set_attributes(self._verdict_attributes(verdict, stage))
                    if self.guard.trace_content:
                        self._add_content(span, verdict)
        finally:
            span.end()
            if self._token is not None:
                telemetry.context.detach(self._token)
        # Metrics after the span is no longer current: a measurement inside a sampled span
        # makes the SDK sample an exemplar, which costs more than the measurement itself.
        self._measure(telemetry, verdict, error, stage, seconds)

    def _measure(
        self,
        telemetry: Telemetry,
        verdict: Verdict | None,
        error: BaseException | None,
        stage: str,
        seconds: float,
    ) -> None:
        guard = self.guard
        # (Few attributes: the SDK hashes each set on every measurement.)
        attributes: dict[str, Any] = {
            "llamashield.stage": stage, "llamashield.shadow": guard.shadow,
            "gen_ai.request.model": guard.model,
        }  # fmt: skip
        # One measurement per check: the duration histogram's count is the checks by outcome,
        # stage and role (as http.server.request.duration counts HTTP requests).
        if verdict is None:
            attributes["llamashield.outcome"] = "error"
            attributes["error.type"] = type(error).__name__
        else:
            flagged = verdict.flagged
            failed = verdict.error is not None and flagged and not verdict.categories
            outcome = "error" if failed else "unsafe" if flagged else "safe"
            attributes["llamashield.outcome"] = outcome
            attributes["llamashield.role"] = verdict.role
        telemetry.duration.record(seconds, attributes)
        if verdict is None:
            return
        blocking = guard.policy.blocking
        for code in verdict.codes:
            telemetry.categories.add(1, {
                "llamashield.category": code, "llamashield.stage": stage,
                "llamashield.blocking": code in blocking, "llamashield.shadow": guard.shadow,
            })  # fmt: skip
        if guard._cache is not None and not (verdict.error and verdict.latency_ms == 0):
            result = "hit" if verdict.cached else "miss"
            telemetry.cache.add(1, {"llamashield.cache.result": result})

    def _verdict_attributes(self, verdict: Verdict, stage: str) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "llamashield.verdict": "unsafe" if verdict.flagged else "safe",
            "llamashield.stage": stage,
            "llamashield.role": verdict.role,
            "llamashield.cached": verdict.cached,
        }
        if verdict.categories:
            attributes["llamashield.categories"] = list(verdict.codes)
        if verdict.model and verdict.model != self.guard.model:
            attributes["gen_ai.response.model"] = verdict.model
        if verdict.score is not None:
            attributes["llamashield.score"] = verdict.score
        if verdict.error is not None:
            attributes["llamashield.error"] = redact(verdict.error)
        if verdict.shadow:
            attributes["llamashield.would_block"] = bool(verdict.would_block)
        return attributes

    def _add_content(self, span: Any, verdict: Verdict) -> None:
        turns = self.turns
        if turns is None:
            try:
                turns = self.guard.prepare(self.conversation).conversation
            except Exception:  # content the guard could not read: nothing to show
                return
        span.set_attributes(content_attributes(turns, verdict.raw or None))


def _provider(guard: LlamaGuard) -> str:
    """``gen_ai.provider.name``: the provider the backend's capabilities name, else its kind
    (a subclass of a known backend inherits its capabilities, so names that provider)."""
    provider = guard.backend.capabilities.provider
    if provider is not None:
        return provider
    return type(guard.backend).__name__.removesuffix("Backend").lower() or "unknown"
