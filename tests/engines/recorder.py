"""A loopback pass-through proxy that records every JSON body sent to the vLLM server.

The lane checks what llamashield puts on the wire (through its own HTTP client or the together
SDK), not what an internal function returns: clients talk to the proxy, the proxy forwards each
request unchanged to vLLM and keeps ``(path, body)``.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


class Recorder:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.requests: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=120)
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with recorder._lock:
                    recorder.requests.append((self.path, json.loads(raw or b"null")))
                self._forward("POST", raw)

            def do_GET(self) -> None:
                self._forward("GET", None)

            def _forward(self, method: str, raw: bytes | None) -> None:
                headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
                answer = recorder._client.request(
                    method, recorder.upstream + self.path, content=raw, headers=headers
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args: Any) -> None:  # quiet: pytest shows failures
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def bodies(self, path_suffix: str) -> list[Any]:
        with self._lock:
            return [body for path, body in self.requests if path.endswith(path_suffix)]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()
