"""``python -m llamashield.testing [--port N] [--latency S]``: serve until interrupted.

Prints the base URL on its first line, so scripts (and the benchmarks) can read it.
"""

from __future__ import annotations

import argparse
import contextlib
import threading

from llamashield.testing._server import LoopbackServer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m llamashield.testing")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds per SSE chunk")
    args = parser.parse_args()
    with LoopbackServer(port=args.port, latency=args.latency, chunk_delay=args.chunk_delay) as s:
        print(s.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
