"""The service's request metrics, on a Prometheus registry of its own.

Each app gets its own ``CollectorRegistry`` (``app.state.metrics.registry``), so two apps in one
process (tests, replicas in a benchmark) never share counters, and ``/metrics`` serves exactly
this registry: guard-level metrics (OpenTelemetry's, when that extra is added) register there.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ServeMetrics"]


class ServeMetrics:
    """Counts what the service did; never the content it judged."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "llamashield_serve_requests", "HTTP requests answered, by endpoint and status.",
            ["endpoint", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "llamashield_serve_request_seconds", "Time to answer a request, by endpoint.",
            ["endpoint"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )  # fmt: skip
        self.in_flight = Gauge(
            "llamashield_serve_in_flight", "Requests being judged now.", registry=self.registry
        )
        self.inputs = Counter(
            "llamashield_serve_inputs", "Inputs judged, by outcome (flagged, safe, error).",
            ["outcome"], registry=self.registry,
        )  # fmt: skip
        self.cache_hits = Counter(
            "llamashield_serve_cache_hits", "Inputs answered from the verdict cache.",
            registry=self.registry,
        )  # fmt: skip

    def render(self) -> bytes:
        return generate_latest(self.registry)
