"""Shared benchmark plumbing: a loopback server in its own process, interleaved timing, tables."""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.table import Table


@contextlib.contextmanager
def server_process(latency: float = 0.0, chunk_delay: float = 0.0) -> Iterator[str]:
    """A loopback server in a child process (so it does not share the client's GIL)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "llamashield.testing", "--latency", str(latency),
         "--chunk-delay", str(chunk_delay)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError("loopback server did not start")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def interleaved(
    cases: dict[str, Callable[[], object]], rounds: int, per_round: int
) -> dict[str, float]:
    """Median seconds per call for each case, run in alternation so noise hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm-up: connections, lazy imports
        for _ in range(5):
            fn()
    for _ in range(rounds):
        for name, fn in cases.items():
            started = time.perf_counter()
            for _ in range(per_round):
                fn()
            samples[name].append((time.perf_counter() - started) / per_round)
    return {name: statistics.median(values) for name, values in samples.items()}


def paired(
    cases: dict[str, Callable[[], object]], base: str, rounds: int, per_round: int
) -> dict[str, tuple[float, float]]:
    """Per case: median seconds per call, and the median of its per-round ratio to ``base``.

    Each round times every case back to back, in an order rotated from round to round, so a
    ratio compares runs made seconds apart: drift in the machine's speed (these machines are
    shared) cancels out of it, where it would not out of a ratio of two separate medians.
    """
    names = list(cases)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for fn in cases.values():  # warm-up: connections, lazy imports
        for _ in range(5):
            fn()
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            fn = cases[name]
            started = time.perf_counter()
            for _ in range(per_round):
                fn()
            samples[name].append((time.perf_counter() - started) / per_round)
    return {
        name: (
            statistics.median(values),
            statistics.median(v / b for v, b in zip(values, samples[base], strict=True)),
        )
        for name, values in samples.items()
    }


def print_table(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    table = Table(title=title)
    for column in ("measure", "value", "ratio", "target"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
