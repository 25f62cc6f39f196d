"""What OpenTelemetry costs a check: without the extra, with the API's no-op provider, with the
SDK recording every span (in-memory exporter) and every metric (in-memory reader).

Run: ``.venv/bin/python benchmarks/telemetry_bench.py`` (needs ``opentelemetry-sdk``). The three
set-ups alternate within each round in one process (``paired``), against one loopback server in
its own process: the ratio compares runs made seconds apart. "Without the extra" is the guard's
plain path, which it takes when ``import opentelemetry`` fails; the no-op set-up is what an
application gets with ``opentelemetry-api`` installed and no SDK configured (the guard sees
the API's no-op providers and takes the plain path too). A row "for the record" makes the no-op
spans and instruments anyway, to show what that skip saves.

A second table repeats it with the in-process simulator, whose checks take microseconds: there
the fixed cost of a span is a larger share (shown for the record, not held to the targets,
which are about real checks).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider

from benchmarks._common import paired, print_table, server_process
from llamashield import LlamaGuard, _telemetry
from llamashield.backends import SimulatedBackend, TogetherBackend

MODEL = "meta-llama/LlamaGuard-2-8b"
MESSAGES = [{"role": "user", "content": "How do I bake bread?"}]


def _setups() -> tuple[dict[str, Any], InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return {
        "absent": None,  # the plain path: what a process without opentelemetry-api runs
        "noop": _telemetry.Telemetry(),  # global proxies, no SDK set: the API's no-ops
        # No-op spans and instruments made and called anyway (what the no-op case skips).
        "forced": _telemetry.Telemetry(NoOpTracerProvider(), NoOpMeterProvider()),
        "sdk": _telemetry.Telemetry(tracer_provider, meter_provider),
    }, exporter


def _cases(check: Callable[[], object]) -> tuple[dict[str, Callable[[], object]], Any]:
    setups, exporter = _setups()

    def under(setup: Any) -> Callable[[], object]:
        def run() -> object:
            _telemetry._loaded = setup  # what get() returns for this case
            return check()

        return run

    return {name: under(setup) for name, setup in setups.items()}, exporter


def measure(
    title: str, check: Callable[[], object], rounds: int, per_round: int, *, held: bool = True
) -> None:
    cases, exporter = _cases(check)
    results = paired(cases, "absent", rounds=rounds, per_round=per_round)
    spans = len(exporter.get_finished_spans())
    rows = [
        ("check without the extra", f"{results['absent'][0] * 1e6:.1f} us", "1.000x", ""),
        ("API installed, no-op provider", f"{results['noop'][0] * 1e6:.1f} us",
         f"{results['noop'][1]:.3f}x", "<= 1.02x" if held else ""),
        ("  (no-op spans made anyway, for the record)", f"{results['forced'][0] * 1e6:.1f} us",
         f"{results['forced'][1]:.3f}x", ""),
        ("SDK, in-memory exporter + reader", f"{results['sdk'][0] * 1e6:.1f} us",
         f"{results['sdk'][1]:.3f}x", "<= 1.10x" if held else ""),
        ("spans recorded by the SDK case", str(spans), "", ""),
    ]  # fmt: skip
    print_table(title, rows)


def main() -> None:
    quick = "--quick" in sys.argv
    rounds, per_round = (8, 20) if quick else (31, 40)
    with server_process() as url:
        guard = LlamaGuard(TogetherBackend(MODEL, api_key="bench-key", base_url=url))
        measure("Tracing a check on the loopback server (Together SDK over HTTP)",
                lambda: guard.check(MESSAGES), rounds, per_round)  # fmt: skip
    simulated = LlamaGuard(SimulatedBackend())
    measure("For the record: the in-process simulator (a check of microseconds)",
            lambda: simulated.check(MESSAGES), rounds, per_round * 10, held=False)  # fmt: skip


if __name__ == "__main__":
    main()
