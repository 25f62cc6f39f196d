"""OpenTelemetry spans and metrics, when the application has ``opentelemetry-api``; else nothing.

``import llamashield`` never imports OpenTelemetry: ``get()`` tries it once, on the first check,
and without it returns ``None`` so the guard takes its plain path (no span objects, no context
work, no metrics calls). With the API installed and no SDK configured, spans and instruments are
the API's no-ops; with an SDK they are recorded, nested under the caller's current span.

Names follow the OpenTelemetry GenAI semantic conventions where they apply (``gen_ai.*``: the
operation, the model, the provider, token usage) and llamashield's own ``llamashield.*``
attributes elsewhere. Every name a user can query is listed in ``docs/production.md``.

Content (the judged conversation, the model's raw answer) is recorded only when the developer
opts in (``LlamaGuard(trace_content=True)``, or ``LLAMASHIELD_TRACE_CONTENT=1``, or the GenAI
conventions' ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``), and even then
credentials are redacted (``redact``). Error messages are always redacted.

Example (what the tests do)::

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter := InMemorySpanExporter()))
    trace.set_tracer_provider(provider)
    guard.check("hi")
    [s.name for s in exporter.get_finished_spans()]   # ['apply_guardrail meta-llama/...']
"""

from __future__ import annotations

import importlib
import json
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram
    from opentelemetry.trace import Span, Tracer

    from llamashield._verdict import Verdict

__all__ = [
    "CONTENT_ENV",
    "OPERATION",
    "Telemetry",
    "component_span",
    "current_stage",
    "get",
    "note_error",
    "note_results",
    "redact",
    "stage_scope",
    "trace_content_default",
]

OPERATION = "apply_guardrail"
"""``gen_ai.operation.name`` of a check: the value of the GenAI conventions' proposed guardrail
span (a check is a guardrail applied to content; it is not a chat the application made)."""

CONTENT_ENV = "LLAMASHIELD_TRACE_CONTENT"
_GENAI_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_TRUE = ("1", "true", "yes", "on")

_DURATION = (
    "Duration of a check; its count is the checks, by llamashield.outcome (safe, unsafe, error), "
    "llamashield.stage, llamashield.role and llamashield.shadow"
)
# Histogram buckets in seconds: a cached check takes microseconds, a remote one tens of ms to s.
_DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                     2.5, 5.0, 10.0, 30.0)  # fmt: skip

# The counters, by ``Telemetry`` attribute: metric name, unit and description (each one is
# listed in docs/production.md).
_COUNTERS = {
    "categories": ("llamashield.check.categories", "{category}",
                   "Categories the model flagged, one count per code, by whether it blocks"),
    "cache": ("llamashield.cache.lookups", "{lookup}",
              "Verdict cache lookups, by llamashield.cache.result (hit or miss)"),
    "errors": ("llamashield.backend.errors", "{error}",
               "Failed backend calls and checks decided without one, by error.type"),
    "breaker": ("llamashield.breaker.transitions", "{transition}",
                "Circuit breaker state changes, by the state entered"),
    "stream_windows": ("llamashield.stream.windows", "{window}",
                       "Stream windows judged, by outcome"),
    "stream_held": ("llamashield.stream.held_back", "{char}",
                    "Characters held back from the consumer until their window was judged"),
    "stream_withheld": ("llamashield.stream.withheld", "{char}",
                        "Characters never released because the stream was blocked"),
}  # fmt: skip

# The stage a component is judging, set around its guard call (``stage_scope``); a check outside
# one takes the stage its role implies (user: input, agent: output).
_STAGE: ContextVar[str | None] = ContextVar("llamashield_stage", default=None)

# The checks made under the current component span: each appends whether it blocked (a list,
# so checks on worker threads, which run in copies of the context, append to the same one).
_TALLY: ContextVar[list[bool] | None] = ContextVar("llamashield_tally", default=None)

_UNSET: Any = object()
_loaded: Any = _UNSET
_load_lock = threading.Lock()


def get() -> Telemetry | None:
    """The process's ``Telemetry``, or ``None`` when there is nothing to record to: no
    ``opentelemetry-api`` (or ``LLAMASHIELD_OTEL=off``), or the API with no SDK set up (its
    providers are no-ops then, and a check skips them altogether). The first call imports
    the API; later ones look at the global providers, so an SDK set up later is picked up."""
    loaded = _loaded
    if loaded is _UNSET:
        loaded = _load()
    return loaded if loaded is not None and loaded.live() else None


def _load() -> Telemetry | None:
    global _loaded
    with _load_lock:
        if _loaded is _UNSET:
            _loaded = None
            if os.environ.get("LLAMASHIELD_OTEL", "").strip().lower() not in ("0", "off", "false"):
                with suppress(ImportError):
                    _loaded = Telemetry()
    return _loaded  # type: ignore[no-any-return]


def trace_content_default() -> bool:
    """Whether content is traced when ``LlamaGuard(trace_content=None)``: the environment's say."""
    return any(os.environ.get(name, "").strip().lower() in _TRUE
               for name in (CONTENT_ENV, _GENAI_CONTENT_ENV))  # fmt: skip


# -- redaction --------------------------------------------------------------------------------

_SECRETS = [
    # URL userinfo: scheme://user:password@host -> scheme://[REDACTED]@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/@]+@"), r"\1[REDACTED]@"),
    # Authorization headers and bearer tokens.
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9\-._~+/]{8,}=*"), r"\1 [REDACTED]"),
    # key=value / "key": "value" for names that hold credentials.
    (
        re.compile(
            r"(?i)\b([\w\-]*(?:api[_\-]?key|secret|password|passwd|access[_\-]?token|auth[_\-]?"
            r"token|client[_\-]?secret)[\w\-]*)(\"?\s*[:=]\s*\"?)[^\s\"',;&]+"
        ),
        r"\1\2[REDACTED]",
    ),
    # Well-known key shapes: OpenAI/Anthropic (sk-...), Together (tgp_v1_...), Hugging Face
    # (hf_...), GitHub (ghp_/gho_/github_pat_), Slack (xox.-), AWS access key ids, Google (AIza).
    (
        re.compile(
            r"\b(?:sk-[A-Za-z0-9\-_]{16,}|tgp_v1_[A-Za-z0-9\-_]{16,}|hf_[A-Za-z0-9]{16,}|"
            r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abprs]-[A-Za-z0-9\-]{10,}|"
            r"AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z\-_]{35})"
        ),
        "[REDACTED]",
    ),
    # JSON Web Tokens.
    (re.compile(r"\beyJ[A-Za-z0-9\-_]{8,}\.[A-Za-z0-9\-_]{8,}\.[A-Za-z0-9\-_]{8,}"), "[REDACTED]"),
]


def redact(text: str) -> str:
    """``text`` with credentials replaced by ``[REDACTED]``: API keys of the common shapes,
    bearer/basic tokens, ``key=value`` pairs naming a secret, URL userinfo, JWTs."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


# -- stages -----------------------------------------------------------------------------------


@contextmanager
def stage_scope(stage: str | None) -> Iterator[None]:
    """Checks made inside are attributed to ``stage`` (``input``, ``tool_args``...)."""
    if stage is None:
        yield
        return
    token = _STAGE.set(stage)
    try:
        yield
    finally:
        _STAGE.reset(token)


def current_stage(role: str | None) -> str:
    """The stage a component set around this check, else the one its role implies."""
    stage = _STAGE.get()
    if stage is not None:
        return stage
    return "output" if role == "agent" else "input"


# -- the instruments --------------------------------------------------------------------------


class Telemetry:
    """The tracer and the instruments, made once from the global providers (proxies until the
    application sets real ones, so the order of set-up does not matter)."""

    # One counter per entry of _COUNTERS, made in __init__.
    categories: Counter
    cache: Counter
    errors: Counter
    breaker: Counter
    stream_windows: Counter
    stream_held: Counter
    stream_withheld: Counter

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        # Explicit providers are for benchmarks and tests that compare set-ups in one process;
        # the guard's own instance reads the global ones.
        from opentelemetry import context, metrics, trace
        from opentelemetry.metrics import NoOpMeterProvider
        from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider

        from llamashield import __version__

        self.metrics = metrics
        self._metrics_internal = importlib.import_module("opentelemetry.metrics._internal")
        self._providers_from_env = any(
            name in os.environ
            for name in ("OTEL_PYTHON_TRACER_PROVIDER", "OTEL_PYTHON_METER_PROVIDER")
        )
        self._live = tracer_provider is not None or meter_provider is not None
        # What the API answers before an SDK is set (proxies) or when one is switched off.
        self._noop_tracers = (ProxyTracerProvider, NoOpTracerProvider)
        self._noop_meters: tuple[type, ...] = (NoOpMeterProvider, *_proxy_meter_types(metrics))
        self.trace = trace
        self.context = context
        self.span_kind_client = trace.SpanKind.CLIENT
        self.status_error = trace.StatusCode.ERROR
        self.Status = trace.Status
        self.tracer: Tracer = trace.get_tracer(
            "llamashield", __version__, tracer_provider=tracer_provider
        )
        meter = metrics.get_meter("llamashield", __version__, meter_provider=meter_provider)
        for attribute, (name, unit, description) in _COUNTERS.items():
            counter = meter.create_counter(name, unit=unit, description=description)
            setattr(self, attribute, counter)
        try:
            self.duration: Histogram = meter.create_histogram(
                "llamashield.check.duration", unit="s", description=_DURATION,
                explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
            )  # fmt: skip
        except TypeError:  # opentelemetry-api < 1.23: no advisory buckets
            self.duration = meter.create_histogram(
                "llamashield.check.duration", unit="s", description=_DURATION
            )

    def live(self) -> bool:
        """Whether anything would record: a real tracer or meter provider is set.

        Asked on every check, so the usual answers are quick: once a real provider is set it
        stays (OpenTelemetry sets its globals once), and while none is set the API's module
        globals are still empty (read directly; the public getters cost microseconds)."""
        if self._live:
            return True
        if self._unset():
            return False
        self._live = not (
            isinstance(self.trace.get_tracer_provider(), self._noop_tracers)
            and isinstance(self.metrics.get_meter_provider(), self._noop_meters)
        )
        return self._live

    def _unset(self) -> bool:
        """True while neither global provider was set (nor named by environment variable)."""
        return (
            getattr(self.trace, "_TRACER_PROVIDER", False) is None
            and getattr(self._metrics_internal, "_METER_PROVIDER", False) is None
            and not self._providers_from_env
        )

    def current_span(self) -> Span:
        return self.trace.get_current_span()


def _proxy_meter_types(metrics: Any) -> tuple[type, ...]:
    """The API's proxy meter provider class (internal to the API, so looked up defensively)."""
    try:
        from opentelemetry.metrics._internal import _ProxyMeterProvider
    except ImportError:  # pragma: no cover - a future API that moved it
        return ()
    return (_ProxyMeterProvider,)


# -- notes from inside a check (the span current there is the check's) -------------------------


def note_error(kind: str) -> None:
    """A check was decided by an error of ``kind`` (``timeout``, ``circuit_open``...)."""
    telemetry = get()
    if telemetry is None:
        return
    telemetry.errors.add(1, {"error.type": kind})
    span = telemetry.current_span()
    if span.is_recording():
        span.set_attribute("error.type", kind)


def note_results(results: Sequence[Any]) -> None:
    """The backend's results for one check: token usage where reported, error kinds."""
    telemetry = get()
    if telemetry is None:
        return
    from llamashield.backends._base import BackendFailure

    span = telemetry.current_span()
    recording = span.is_recording()
    tokens_in = tokens_out = 0
    usage = False
    for result in results:
        outcome = result.outcome
        if isinstance(outcome, BackendFailure):
            telemetry.errors.add(1, {"error.type": outcome.kind})
            if recording:
                span.set_attribute("error.type", outcome.kind)
        elif outcome.input_tokens is not None or outcome.output_tokens is not None:
            usage = True
            tokens_in += outcome.input_tokens or 0
            tokens_out += outcome.output_tokens or 0
    if usage and recording:
        span.set_attribute("gen_ai.usage.input_tokens", tokens_in)
        span.set_attribute("gen_ai.usage.output_tokens", tokens_out)


def note_breaker(state: str) -> None:
    """The circuit breaker entered ``state`` (``open``, ``half_open``, ``closed``)."""
    telemetry = get()
    if telemetry is not None:
        telemetry.breaker.add(1, {"llamashield.breaker.state": state})


def note_stream(verdict: Verdict, *, held_back: int, withheld: int) -> None:
    """One stream window was judged; ``held_back`` characters waited for it, ``withheld`` were
    never released (the stream blocked)."""
    telemetry = get()
    if telemetry is None:
        return
    flagged = verdict.flagged
    outcome = "error" if verdict.error and flagged else "unsafe" if flagged else "safe"
    attributes: dict[str, Any] = {
        "llamashield.outcome": outcome,
        "llamashield.shadow": verdict.shadow,
    }
    telemetry.stream_windows.add(1, attributes)
    if held_back:
        telemetry.stream_held.add(held_back, {"llamashield.shadow": verdict.shadow})
    if withheld:
        telemetry.stream_withheld.add(withheld)


# -- component spans --------------------------------------------------------------------------


@contextmanager
def component_span(name: str, *, shadow: bool) -> Iterator[Span | None]:
    """A span around one guarded component call (``llamashield GuardedQueryEngine``): its checks
    and the wrapped component's own spans are its children."""
    telemetry = get()
    if telemetry is None:
        yield None
        return
    attributes: dict[str, Any] = {"llamashield.component": name, "llamashield.shadow": shadow}
    tracer = telemetry.tracer
    tally: list[bool] = []
    token = _TALLY.set(tally)
    try:
        with tracer.start_as_current_span(f"llamashield {name}", attributes=attributes) as span:
            try:
                yield span
            finally:
                if span.is_recording():
                    span.set_attribute("llamashield.checks", len(tally))
                    span.set_attribute("llamashield.blocked", any(tally))
    finally:
        _TALLY.reset(token)


def tally(blocked: bool) -> None:
    """Count one check on the component span it runs under, if any."""
    found = _TALLY.get()
    if found is not None:
        found.append(blocked)


def content_attributes(conversation: Sequence[Any], raw: str | None) -> dict[str, str]:
    """The opted-in content attributes: ``gen_ai.input.messages`` (the judged turns) and
    ``gen_ai.output.messages`` (the model's answer), as the GenAI conventions' JSON, redacted."""
    messages = [
        {"role": "user" if turn.role == "user" else "assistant",
         "parts": [{"type": "text", "content": redact(turn.content)}]}
        for turn in conversation
    ]  # fmt: skip
    attributes = {"gen_ai.input.messages": json.dumps(messages, ensure_ascii=False)}
    if raw is not None:
        answer = [{"role": "assistant", "parts": [{"type": "text", "content": redact(raw)}]}]
        attributes["gen_ai.output.messages"] = json.dumps(answer, ensure_ascii=False)
    return attributes
