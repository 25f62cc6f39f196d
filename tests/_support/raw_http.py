"""A loopback HTTP server answering every POST with what a test function says: for the answers
``llamashield.testing.LoopbackServer`` does not make (malformed bodies, impossible scores, a
careless server's error page), and to see exactly what a backend sent."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Request:
    """One POST as the server received it."""

    path: str
    headers: Message
    body: bytes


Reply = Callable[[Request], tuple[int, bytes]]
"""What to answer a request with: the status and the JSON body."""


def by_endpoint(make: Callable[[bool], bytes]) -> Reply:
    """A 200 whose body ``make(chat)`` writes for the chat endpoint (True) or completions."""
    return lambda request: (200, make(request.path.endswith("/chat/completions")))


class RawServer:
    """``with RawServer(reply) as server:`` a server on a free loopback port, stopped after.

    ``reply`` may be replaced while it runs; ``requests`` keeps every POST it received.
    """

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[Request] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = Request(self.path, self.headers, body)
                owner.requests.append(request)
                status, payload = owner.reply(request)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
