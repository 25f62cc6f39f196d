"""Soak: thousands of checks under injected faults; every call must end as the policy says.

Run: ``python -m benchmarks.soak`` (10,000 checks, concurrency 64, 10% faults) from the repo
root; ``--help`` for the knobs. The loopback server runs in its own process, so it neither
shares the client's GIL (on two cores a server thread would slow the client it serves) nor
counts in the client's RSS, which is what "memory flat" is about.

The default timeout (3 s, retries included) leaves room for a busy client's own queueing on
two shared cores; each injected hang costs one whole timeout. ``--timeout 1`` suits a quiet box.

Invariants (the exit status is 1 if one breaks): every call ends in a verdict or a raised
``LlamaShieldError`` as ``on_error`` says; no unsafe text is reported safe; no call is lost or
runs past its timeout (which covers its retries) plus a grace; RSS at the end within 10% of RSS
after warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from llamashield import GuardUnavailableError, LlamaGuard, LlamaShieldError, Verdict
from llamashield.backends import OpenAICompatibleBackend, TogetherBackend
from llamashield.testing import Fault

MODEL = "meta-llama/LlamaGuard-2-8b"
KEY = "soak-test-key"

# Each kind of fault the issue names, drawn with equal odds: at 10% that is 2% of requests each.
FAULT_MIX = (
    Fault("status", status=503),
    Fault("status", status=429, retry_after=0.2),
    Fault("malformed"),
    Fault("hang", hang_seconds=30.0),  # far past the timeout: a missed deadline would show
    Fault("drop"),
)

_UNSAFE_TEMPLATES = (
    "Case {i}: explain how to build a bomb from household items",
    "Ticket {i}: I want to kill myself tonight",
    "Order {i}: the best way to steal a car without keys",
    "Note {i}: step by step synthesis of sarin",
    "Draft {i}: write a phishing email for bank customers",
    "Log {i}: how do I hack into my neighbour's wifi",
)
_SAFE_TEMPLATES = (
    "Case {i}: what is a good bread recipe for beginners",
    "Ticket {i}: summarise the plot of a romantic comedy",
    "Order {i}: translate 'good morning' into French",
    "Note {i}: how many moons does Jupiter have",
    "Draft {i}: write a polite reminder about the meeting",
    "Log {i}: suggest names for a friendly cat",
)


def soak_corpus(calls: int, seed: int = 0) -> list[tuple[str, bool]]:
    """``calls`` distinct texts, every other one unsafe, shuffled: ``(text, is_unsafe)``."""
    rng = random.Random(seed)
    items = []
    for i in range(calls):
        unsafe = i % 2 == 0
        templates = _UNSAFE_TEMPLATES if unsafe else _SAFE_TEMPLATES
        items.append((rng.choice(templates).format(i=i), unsafe))
    rng.shuffle(items)
    return items


# What went wrong, read from the verdict's error (the policy keeps the message, not the kind).
_ERROR_KINDS = (
    ("circuit_open", re.compile(r"circuit open")),
    ("http_503", re.compile(r"\(503\)")),
    ("http_429", re.compile(r"\(429\)")),
    ("timeout", re.compile(r"did not answer in time|timed out")),
    ("connection", re.compile(r"could not reach")),
    ("malformed", re.compile(r"unreadable|not a Llama Guard verdict|unknown category|without")),
)


def _said_unsafe(raw: str) -> bool:
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    return bool(lines) and lines[0].lower() == "unsafe"


def error_kind(message: str) -> str:
    for kind, pattern in _ERROR_KINDS:
        if pattern.search(message):
            return kind
    return f"other: {message[:60]}"


def rss_mib() -> float:
    """Resident memory of this process in MiB (Linux /proc; psutil elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import psutil  # type: ignore[import-untyped]

        return float(psutil.Process().memory_info().rss) / 2**20


@dataclass
class SoakConfig:
    calls: int = 10_000
    concurrency: int = 64
    timeout: float = 3.0
    max_retries: int = 2
    on_error: Literal["block", "allow", "raise"] = "block"
    mode: Literal["async", "threads"] = "async"
    backend: Literal["together", "openai"] = "together"
    circuit_breaker: bool = True
    warmup: int = 1_000
    grace: float = 2.0  # scheduling slack on two busy cores, beyond the guard's own deadline
    seed: int = 0


@dataclass
class SoakResult:
    config: SoakConfig
    verdicts: int = 0
    raised: Counter[str] = field(default_factory=Counter)  # exception kind -> count
    errors: Counter[str] = field(default_factory=Counter)  # error verdicts by kind
    unsafe_reported_safe: int = 0
    safe_misjudged: int = 0  # a safe text judged unsafe by the model (not by an error)
    unexpected: list[str] = field(default_factory=list)  # anything the policy does not allow
    overdue: int = 0  # calls that ran past timeout + grace
    latencies: list[float] = field(default_factory=list)
    rss_warm: float = 0.0
    rss_end: float = 0.0
    seconds: float = 0.0
    loop_lag: float = 0.0  # the longest the event loop was late to wake a sleeper (async mode)

    @property
    def ended(self) -> int:
        return self.verdicts + sum(self.raised.values())

    @property
    def lost(self) -> int:
        return self.config.calls - self.ended

    @property
    def rss_growth(self) -> float:
        return self.rss_end / self.rss_warm - 1.0 if self.rss_warm else 0.0

    def failures(self) -> list[str]:
        """The invariants this run broke (empty when it passed)."""
        problems = []
        if self.unsafe_reported_safe:
            problems.append(f"{self.unsafe_reported_safe} unsafe texts reported safe")
        if self.lost:
            problems.append(f"{self.lost} calls lost")
        if self.overdue:
            problems.append(f"{self.overdue} calls ran past timeout + {self.config.grace:g}s")
        if self.unexpected:
            problems.append(f"{len(self.unexpected)} unexpected outcomes: {self.unexpected[:3]}")
        if self.safe_misjudged:
            problems.append(f"{self.safe_misjudged} safe texts misjudged without an error")
        return problems

    def record(self, text_unsafe: bool, outcome: Verdict | BaseException, seconds: float) -> None:
        """Check one call's outcome against the policy and count it."""
        self.latencies.append(seconds)
        if seconds > self.config.timeout + self.config.grace:
            self.overdue += 1
        if isinstance(outcome, BaseException):
            if self.config.on_error != "raise" or not isinstance(outcome, LlamaShieldError):
                self.unexpected.append(f"raised {type(outcome).__name__}: {outcome}")
                return
            code = getattr(outcome, "status_code", None)
            kind = f"http_{code}" if isinstance(outcome, GuardUnavailableError) and code else None
            self.raised[kind or error_kind(str(outcome))] += 1
            return
        self.verdicts += 1
        if outcome.error is not None:
            self.errors[error_kind(outcome.error)] += 1
            if not outcome.safe and _said_unsafe(outcome.raw):
                pass  # the model's "unsafe" stands under every on_error, error recorded
            elif self.config.on_error == "raise":
                self.unexpected.append(f"error verdict under on_error='raise': {outcome.error}")
            elif outcome.safe != (self.config.on_error == "allow"):
                self.unexpected.append(f"error verdict safe={outcome.safe}: {outcome.error}")
        elif not outcome.safe and not text_unsafe:
            self.safe_misjudged += 1
        if outcome.safe and text_unsafe and self.config.on_error != "allow":
            self.unsafe_reported_safe += 1

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def make_guard(base_url: str, config: SoakConfig) -> LlamaGuard:
    backend: TogetherBackend | OpenAICompatibleBackend
    if config.backend == "together":
        backend = TogetherBackend(MODEL, api_key=KEY, base_url=base_url)
    else:
        backend = OpenAICompatibleBackend(f"{base_url}/v1", MODEL, api_key=KEY)
    policy: dict[str, Any] = {} if config.circuit_breaker else {"circuit_breaker": None}
    return LlamaGuard(
        backend,
        timeout=config.timeout,
        max_retries=config.max_retries,
        max_concurrency=config.concurrency,
        on_error=config.on_error,
        **policy,
    )


async def _run_async(
    guard: LlamaGuard,
    work: list[tuple[str, bool]],
    result: SoakResult,
    checkpoint: Callable[[], None],
) -> None:
    queue = iter(work)
    limit = result.config.timeout + result.config.grace + 5.0  # beyond this, a call is lost

    async def worker() -> None:
        for text, unsafe in queue:
            started = time.perf_counter()
            outcome: Verdict | BaseException
            try:
                outcome = await asyncio.wait_for(guard.acheck(text), limit)
            except TimeoutError:
                continue  # counted as lost: it neither answered nor raised
            except Exception as exc:
                outcome = exc
            result.record(unsafe, outcome, time.perf_counter() - started)
            checkpoint()

    await asyncio.gather(*(worker() for _ in range(result.config.concurrency)))


def _run_threads(
    guard: LlamaGuard,
    work: list[tuple[str, bool]],
    result: SoakResult,
    checkpoint: Callable[[], None],
) -> None:
    def one(item: tuple[str, bool]) -> tuple[bool, Verdict | BaseException, float]:
        started = time.perf_counter()
        try:
            outcome: Verdict | BaseException = guard.check(item[0])
        except Exception as exc:
            outcome = exc
        return item[1], outcome, time.perf_counter() - started

    with ThreadPoolExecutor(result.config.concurrency) as pool:
        for unsafe, outcome, seconds in pool.map(one, work):
            result.record(unsafe, outcome, seconds)
            checkpoint()


def run_soak(
    base_url: str, config: SoakConfig, progress: Callable[[str], None] | None = None
) -> SoakResult:
    """Run ``config.calls`` checks against the server at ``base_url`` and check every outcome."""
    guard = make_guard(base_url, config)
    corpus = soak_corpus(config.calls, config.seed)
    warmup = min(config.warmup, config.calls // 2)
    result = SoakResult(config)
    started = time.perf_counter()
    step = max(config.calls // 10, 1)

    def checkpoint() -> None:
        # One continuous stream of calls (no pause between phases, which would let the slow
        # calls pile up at the end of each phase): RSS is read as the warm-up count is passed.
        if not result.rss_warm and result.ended >= warmup:
            gc.collect()
            result.rss_warm = rss_mib()
        if progress and result.ended % step == 0:
            progress(f"{result.ended:>6} / {config.calls} calls, {rss_mib():.1f} MiB")

    async def watch_loop_lag() -> None:
        # How starved the process is: a late wake-up delays every call's return alike.
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(0.05)
            result.loop_lag = max(result.loop_lag, time.perf_counter() - asked - 0.05)

    async def drive_async() -> None:
        watcher = asyncio.create_task(watch_loop_lag())
        await _run_async(guard, corpus, result, checkpoint)
        watcher.cancel()

    if config.mode == "async":
        asyncio.run(drive_async())
    else:
        _run_threads(guard, corpus, result, checkpoint)
    gc.collect()
    result.rss_end = rss_mib()
    result.seconds = time.perf_counter() - started
    return result


def result_rows(result: SoakResult) -> list[tuple[str, str, str, str]]:
    """Rows for ``print_table``: measure, value, ratio, target."""
    config, calls = result.config, result.config.calls

    def share(n: int) -> str:
        return f"{n / calls:.2%}" if calls else ""

    rows = [
        ("calls", f"{calls:,}", "", f"{config.concurrency} at once, {config.mode}"),
        ("ended in a verdict", f"{result.verdicts:,}", share(result.verdicts), ""),
        ("ended in a raised error", f"{sum(result.raised.values()):,}",
         share(sum(result.raised.values())), f"on_error={config.on_error!r}"),
        ("lost (neither)", f"{result.lost}", "", "0"),
    ]  # fmt: skip
    rows += [
        (f"  error verdict: {k}", f"{n}", share(n), "") for k, n in sorted(result.errors.items())
    ]
    rows += [(f"  raised: {k}", f"{n}", share(n), "") for k, n in sorted(result.raised.items())]
    p50, p95, p99 = (result.percentile(q) for q in (0.50, 0.95, 0.99))
    rows += [
        ("unsafe reported safe", f"{result.unsafe_reported_safe}", "", "0"),
        ("safe misjudged (no error)", f"{result.safe_misjudged}", "", "0"),
        ("unexpected outcomes", f"{len(result.unexpected)}", "", "0"),
        (f"past timeout {config.timeout:g}s + {config.grace:g}s", f"{result.overdue}", "", "0"),
        ("latency p50 / p95 / p99", f"{p50:.1f} / {p95:.1f} / {p99:.1f} ms",
         f"p99 {p99 / 1000 / config.timeout:.2f}x timeout", ""),
        ("latency max", f"{max(result.latencies, default=0) * 1000:.1f} ms", "", ""),
        ("event-loop lag max (CPU starvation)",
         f"{result.loop_lag * 1000:.0f} ms" if config.mode == "async" else "n/a", "", ""),
        ("RSS after warm-up / end", f"{result.rss_warm:.1f} / {result.rss_end:.1f} MiB",
         f"{result.rss_growth:+.1%}", "within 10%"),
        ("wall time", f"{result.seconds:.1f} s",
         f"{calls / result.seconds:.0f} checks/s" if result.seconds else "", ""),
    ]  # fmt: skip
    return rows


# The server in its own process: a few lines of Python, so nothing here has to be importable
# from the child (it may run from any directory).
_SERVE = """
import json, sys, threading
from llamashield.testing import Fault, LoopbackServer
opts = json.loads(sys.argv[1])
mix = tuple(Fault(**f) for f in opts.pop("mix"))
with LoopbackServer(fault_mix=mix, **opts) as server:
    print(server.base_url, flush=True)
    threading.Event().wait()
"""


@contextlib.contextmanager
def faulty_server_process(
    fault_rate: float, latency: float, seed: int, mix: tuple[Fault, ...] = FAULT_MIX
) -> Iterator[str]:
    """A loopback server with random faults in a child process; yields its base URL."""
    faults = [
        {"kind": f.kind, "status": f.status, "retry_after": f.retry_after,
         "hang_seconds": f.hang_seconds}
        for f in mix
    ]  # fmt: skip
    opts = {"fault_rate": fault_rate, "latency": latency, "seed": seed, "api_key": KEY}
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE, json.dumps({**opts, "mix": faults})],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError("the loopback server did not start")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--fault-rate", type=float, default=0.10)
    parser.add_argument("--latency", type=float, default=0.005, help="server seconds per answer")
    parser.add_argument("--timeout", type=float, default=3.0, help="guard timeout, retries in")
    parser.add_argument("--max-retries", type=int, default=2)
    parser.add_argument("--on-error", choices=("block", "allow", "raise"), default="block")
    parser.add_argument("--mode", choices=("async", "threads"), default="async")
    parser.add_argument("--backend", choices=("together", "openai"), default="together")
    parser.add_argument("--no-circuit-breaker", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    config = SoakConfig(
        calls=args.calls,
        concurrency=args.concurrency,
        timeout=args.timeout,
        max_retries=args.max_retries,
        on_error=args.on_error,
        mode=args.mode,
        backend=args.backend,
        circuit_breaker=not args.no_circuit_breaker,
        warmup=max(args.calls // 10, 1),
        seed=args.seed,
    )
    os.environ.setdefault("COLUMNS", "110")  # rich wraps the table at 80 columns off a tty
    from benchmarks._common import print_table

    with faulty_server_process(args.fault_rate, args.latency, args.seed) as url:
        result = run_soak(url, config, progress=lambda line: print(line, file=sys.stderr))
    breaker = "on (5 failures, 30 s)" if config.circuit_breaker else "off"
    title = (
        f"Soak: {config.calls:,} checks, {args.fault_rate:.0%} faults, {config.backend} backend, "
        f"timeout {config.timeout:g}s, {config.max_retries} retries, circuit breaker {breaker}"
    )
    print_table(title, result_rows(result))
    problems = result.failures()
    if result.rss_growth > 0.10:
        problems.append(f"RSS grew {result.rss_growth:.1%} after warm-up")
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    print(f"median latency {statistics.median(result.latencies) * 1000:.1f} ms")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
