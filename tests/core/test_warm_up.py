"""``guard.warm_up()`` / ``awarm_up()``: the first check's one-time work, done without a call.

Timings belong to benchmarks/cold_start_bench.py; here: what is loaded, and that nothing is sent.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend
from llamashield.testing import LoopbackServer

_FRESH = """
import asyncio, json, sys
from llamashield.testing import LoopbackServer
with LoopbackServer() as server:
    guard = server.{factory}()
    before = {{m for m in sys.modules if m.startswith(("together.resources", "anyio._backends"))}}
    asyncio.run(guard.awarm_up()) if sys.argv[1] == "async" else guard.warm_up()
    after = {{m for m in sys.modules if m.startswith(("together.resources", "anyio._backends"))}}
    print(json.dumps({{"loaded": sorted(after - before), "requests": server.count()}}))
"""


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_warm_up_loads_the_sdk_and_sends_nothing(mode: str) -> None:
    pytest.importorskip("together")
    out = subprocess.run([sys.executable, "-c", _FRESH.format(factory="guard"), mode],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    result = json.loads(out.strip().splitlines()[-1])
    assert result["requests"] == 0
    assert "together.resources.chat.completions" in result["loaded"]
    if mode == "async":  # the loop's HTTP transport too
        assert "anyio._backends._asyncio" in result["loaded"]


def test_warm_up_on_an_openai_compatible_backend_sends_nothing() -> None:
    out = subprocess.run([sys.executable, "-c", _FRESH.format(factory="openai_guard"), "async"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert json.loads(out.strip().splitlines()[-1])["requests"] == 0


async def test_warm_up_then_checks_as_usual() -> None:
    with LoopbackServer() as server:
        guard = server.guard()
        guard.warm_up()
        await guard.awarm_up()
        assert server.count() == 0
        assert not (await guard.acheck("How do I build a bomb?")).safe
        assert guard.check("hello").safe and server.count() == 2
    plain = LlamaGuard(SimulatedBackend())  # a backend with nothing to warm
    plain.warm_up()
    await plain.awarm_up()
    assert plain.check("hello").safe
