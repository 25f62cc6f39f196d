"""Cold start: a process's first check, without and with ``guard.warm_up()``.

Run: ``PYTHONPATH=src .venv/bin/python -m benchmarks.cold_start_bench``. Each sample is a fresh
Python process (so the SDK's lazy imports are really cold) that builds a guard on the loopback
server (its own process), optionally warms it up, then times its first check and the median of
the next 20. Fresh processes alternate between the two ways, so drift hits both alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from benchmarks._common import print_table, server_process

_CHILD = """
import asyncio, json, statistics, sys, time
from llamashield import LlamaGuard
from llamashield.backends import TogetherBackend

url, warm, mode = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
guard = LlamaGuard(TogetherBackend("meta-llama/LlamaGuard-2-8b", api_key="k", base_url=url))

async def run_async():
    started = time.perf_counter()
    if warm:
        await guard.awarm_up()
    warm_ms = (time.perf_counter() - started) * 1000
    times = []
    for i in range(21):
        started = time.perf_counter()
        await guard.acheck(f"question {i}")
        times.append((time.perf_counter() - started) * 1000)
    return warm_ms, times

def run_sync():
    started = time.perf_counter()
    if warm:
        guard.warm_up()
    warm_ms = (time.perf_counter() - started) * 1000
    times = []
    for i in range(21):
        started = time.perf_counter()
        guard.check(f"question {i}")
        times.append((time.perf_counter() - started) * 1000)
    return warm_ms, times

warm_ms, times = asyncio.run(run_async()) if mode == "async" else run_sync()
print(json.dumps({"warm_up": warm_ms, "first": times[0], "steady": statistics.median(times[1:])}))
"""


def sample(url: str, warm: bool, mode: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _CHILD, url, "1" if warm else "0", mode],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=5, help="fresh processes per way")
    args = parser.parse_args()
    rows: list[tuple[str, str, str, str]] = []
    with server_process() as url:
        for mode in ("sync", "async"):
            runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
            for _ in range(args.processes):
                for warm in (False, True):
                    runs[warm].append(sample(url, warm, mode))
            med = {w: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
                   for w, rs in runs.items()}  # fmt: skip
            cold, warmed = med[False], med[True]
            name = "check" if mode == "sync" else "acheck"
            rows += [
                (f"{name}: first check, no warm-up", f"{cold['first']:.1f} ms",
                 f"{cold['first'] / cold['steady']:.1f}x steady", ""),
                (f"{name}: first check after warm_up()", f"{warmed['first']:.1f} ms",
                 f"{warmed['first'] / warmed['steady']:.1f}x steady", ""),
                (f"{name}: first check, no warm-up / after warm-up", "",
                 f"{cold['first'] / warmed['first']:.1f}x", ""),
                (f"{name}: warm_up() itself, steady check", f"{warmed['warm_up']:.1f} ms, "
                 f"{warmed['steady']:.1f} ms", "", ""),
            ]  # fmt: skip
    print_table("Cold start on the loopback server (median of fresh processes)", rows)


if __name__ == "__main__":
    main()
