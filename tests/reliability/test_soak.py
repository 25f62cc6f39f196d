"""A 1,000-check soak in the test suite: faults of every kind, every outcome as the policy says.

The full run (10,000 checks, RSS, latency table) is ``python -m benchmarks.soak``; this one
shares its engine and invariants, with the server in-process. A generous grace stands in for a
busy machine: a guard that ignored its deadline would wait on a 60 s hang and be caught.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks.soak import FAULT_MIX, KEY, SoakConfig, run_soak
from llamashield.testing import Fault, LoopbackServer

pytest.importorskip("together")
pytestmark = pytest.mark.slow

HANG = Fault("hang", hang_seconds=60.0)
MIX = tuple(HANG if fault.kind == "hang" else fault for fault in FAULT_MIX)


@pytest.fixture
def faulty_server() -> Iterator[LoopbackServer]:
    with LoopbackServer(api_key=KEY, fault_rate=0.10, fault_mix=MIX, seed=7) as server:
        yield server


@pytest.mark.parametrize(
    "config",
    [
        SoakConfig(calls=600, mode="async", backend="together", on_error="block"),
        SoakConfig(calls=400, mode="threads", backend="openai", on_error="raise"),
    ],
    ids=["600-async-together-block", "400-threads-openai-raise"],
)
def test_soak_under_mixed_faults(faulty_server: LoopbackServer, config: SoakConfig) -> None:
    config.concurrency, config.timeout, config.grace, config.warmup = 64, 2.0, 10.0, 100
    result = run_soak(faulty_server.base_url, config)
    assert result.failures() == []
    assert result.unsafe_reported_safe == 0 and result.lost == 0
    failed = sum(result.errors.values()) + sum(result.raised.values())
    assert failed > 0, "no fault reached a caller: the faults were not injected"
    assert result.ended == config.calls
    if config.on_error == "raise":
        # Error verdicts remain only where the model said "unsafe" (it stands under every
        # on_error); ``record`` counts any other error verdict under "raise" as unexpected.
        assert result.raised
    else:
        assert result.errors and not result.raised
