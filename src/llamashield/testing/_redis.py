"""``RedisServer``: a throwaway ``redis-server`` on a free loopback port, for tests and benchmarks.

It runs the real server binary (Debian's ``redis-server`` package) with persistence off in a
temporary folder, and stops it (and removes the folder) with its ``with`` block.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["RedisServer"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private ``redis-server`` on 127.0.0.1.

    Example::

        with RedisServer() as server:
            cache = RedisVerdictCache(server.url)
            ...
            server.kill()                 # Redis dies mid-run: guards must go on

    Raises ``FileNotFoundError`` when ``redis-server`` is not installed
    (``apt-get install redis-server``).
    """

    def __init__(self, executable: str = "redis-server") -> None:
        found = shutil.which(executable)
        if found is None:
            raise FileNotFoundError(f"{executable} not found: apt-get install -y redis-server")
        self.executable = found
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        self._folder = tempfile.TemporaryDirectory(prefix="llamashield-redis-")
        # A port can be taken between probing and binding; retry on a fresh one.
        for _ in range(5):
            self.port = _free_port()
            args = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", self._folder.name,
                    "--daemonize", "no", "--loglevel", "warning"]  # fmt: skip
            with Path(self._folder.name, "redis.log").open("ab") as log:
                self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
            if self._wait_ready(timeout):
                return self
            self.kill()
        raise RuntimeError("redis-server did not start on a loopback port")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return True
            time.sleep(0.02)
        return False

    def kill(self) -> None:
        """Stop the server abruptly (SIGKILL), as a crash would."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)

    def stop(self) -> None:
        self.kill()
        self._process = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
