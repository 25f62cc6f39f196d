"""``LoopbackServer``: a real HTTP/1.1 server on 127.0.0.1 speaking Together's/OpenAI's API.

It runs an asyncio server on its own thread, so sync and async clients (the ``together`` SDK,
httpx, LangChain and LlamaIndex clients) talk to it over real sockets, with injected latency
and faults. It stops with its ``with`` block, or at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any, Literal

from llamashield.testing._batches import BatchStore
from llamashield.testing._faults import Fault, FaultKind, FaultPlan
from llamashield.testing._ollama import OllamaResponder
from llamashield.testing._protocol import BadRequest, Reply, Responder, Response, bad_request

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from llamashield._guard import LlamaGuard

_REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout"}  # fmt: skip
_PROBES = {("GET", "/api/version"), ("GET", "/props"), ("GET", "/v1/models"),
           ("POST", "/tokenize"), ("POST", "/extras/tokenize")}  # fmt: skip
_MAX_BODY = 32 * 1024 * 1024  # five 4 MiB images, base64-encoded, fit


class LoopbackServer:
    """A Together/OpenAI-compatible server on loopback, for offline tests and demos.

    Example::

        with LoopbackServer(latency=0.05) as server:
            guard = server.guard()                      # TogetherBackend -> this server
            assert not guard.check("How do I build a bomb?").safe
            server.inject("status", status=503, times=None)
            assert guard.check("hi").error              # fails closed

    Args:
        latency: seconds before each answer.
        chunk_delay: seconds between streamed chunks (non-guard chat models).
        reply: what non-guard models say: a function of the messages, or a list cycled through;
            default echoes the last user message.
        api_key: when set, requests must carry ``Authorization: Bearer <api_key>`` (else 401).
        fault_rate, fault_mix, seed: random faults for soak tests.
        guard_model: the model id ``guard()`` uses.
        engine: ``"openai"`` (Together's/OpenAI's API, the default) or ``"ollama"``: Ollama's
            native API (``/api/generate`` with ``raw``, ``/api/chat``, ``/api/version``,
            NDJSON streams) and its OpenAI layer, which wraps every prompt in the model's
            template (see ``llamashield.testing._ollama``); ``guard_model`` defaults to
            ``llama-guard3:8b`` there, and ``server.ollama.rendered`` records what the model
            read. ``ollama_guard()`` makes a guard on ``OllamaBackend`` at it.

    Example (Ollama)::

        with LoopbackServer(engine="ollama") as server:
            guard = server.ollama_guard()                # raw /api/generate
            assert not guard.check("How do I build a bomb?").safe
            assert server.ollama.rendered[-1].raw
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        reply: Reply | list[str] | None = None,
        api_key: str | None = None,
        fault_rate: float = 0.0,
        fault_mix: tuple[Fault, ...] = (),
        seed: int | None = 0,
        guard_model: str | None = None,
        port: int = 0,
        engine: Literal["openai", "ollama"] = "openai",
    ) -> None:
        if engine not in ("openai", "ollama"):
            raise ValueError(f"engine must be 'openai' or 'ollama', got {engine!r}")
        if guard_model is None:
            guard_model = "llama-guard3:8b" if engine == "ollama" else "meta-llama/LlamaGuard-2-8b"
        self.engine = engine
        self.ollama = OllamaResponder(guard_model)
        self.latency = latency
        self.chunk_delay = chunk_delay
        self.api_key = api_key
        self.guard_model = guard_model
        self.faults = FaultPlan(fault_rate, fault_mix, seed)
        self.responder = Responder(reply)
        self.batches = BatchStore(self._batch_answer)  # Together's files and batches endpoints
        self.requests: Counter[str] = Counter()  # "path model" -> count
        self.bodies: list[dict[str, Any]] = []  # the last 1,000 request bodies
        # (path, model, safety_model) of each request that asked Together to moderate its
        # generation; recorded only: server-side blocking is not emulated (its response
        # shape is not documented), the generation comes back as usual.
        self.safety_models: list[tuple[str, str, str]] = []
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._startup_error: BaseException | None = None
        # Every open connection's writer, from the moment it is accepted: a handler cancelled
        # at shutdown before it started never runs its ``finally``, so ``_run`` closes these.
        self._writers: set[asyncio.StreamWriter] = set()
        # The guards ``guard()`` and its siblings built: pointed at this server, they are of no
        # use once it stops, so ``stop`` closes them (their keep-alive sockets with them).
        self._guards: list[LlamaGuard] = []

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not running: use `with LoopbackServer() as s:`")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        """Root URL, as the ``together`` SDK wants it (it appends ``/v1/...`` itself)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    def start(self) -> LoopbackServer:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="llamashield-loopback", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._startup_error is not None:
            raise RuntimeError(f"loopback server failed to start: {self._startup_error}")
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        self._thread = None
        guards, self._guards = self._guards, []
        for guard in guards:
            guard.close()
        atexit.unregister(self.stop)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._accept, "127.0.0.1", self._port, backlog=512)
            )
        except OSError as exc:
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            for writer in self._writers:
                writer.close()
            self._writers.clear()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.sleep(0))  # the transports' connection_lost
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    # -- conveniences ---------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind = "status",
        *,
        status: int = 503,
        retry_after: float | None = None,
        hang_seconds: float = 3600.0,
        times: int | None = 1,
    ) -> None:
        """Make the next ``times`` requests fail (``None``: every request until ``clear``)."""
        self.faults.add(Fault(kind, status, retry_after, hang_seconds), times)

    def clear_faults(self) -> None:
        self.faults.clear()

    def count(self, path: str = "", model: str = "") -> int:
        """Requests seen whose path and model contain the given strings."""
        with self._lock:
            return sum(n for key, n in self.requests.items() if path in key and model in key)

    def guard(
        self, *, model: str | None = None, logprobs: bool = False, **policy: Any
    ) -> LlamaGuard:
        """A ``LlamaGuard`` on ``TogetherBackend`` pointed at this server (the real SDK).

        ``logprobs=True`` asks for first-token logprobs, so verdicts carry a ``score``. This
        guard and those of ``openai_guard``/``ollama_guard`` are closed when the server stops.
        """
        from llamashield._guard import LlamaGuard
        from llamashield.backends.together import TogetherBackend

        backend = TogetherBackend(
            model=model or self.guard_model,
            api_key=self.api_key or "loopback-test-key",
            base_url=self.base_url,
            logprobs=logprobs,
        )
        return self._keep(LlamaGuard(backend, **policy))

    def openai_guard(self, *, model: str | None = None, **policy: Any) -> LlamaGuard:
        """A ``LlamaGuard`` on ``OpenAICompatibleBackend`` (raw prompts) at this server."""
        from llamashield._guard import LlamaGuard
        from llamashield.backends.openai_compatible import OpenAICompatibleBackend

        backend = OpenAICompatibleBackend(
            base_url=self.openai_base_url, model=model or self.guard_model, api_key=self.api_key
        )
        return self._keep(LlamaGuard(backend, **policy))

    def ollama_guard(self, *, model: str | None = None, **options: Any) -> LlamaGuard:
        """A ``LlamaGuard`` on ``OllamaBackend`` at this server (``engine="ollama"``).

        Backend options (``mode=``, ``logprobs=``, ``keep_alive=``, ``options=``) go to the
        backend, the rest to the guard.
        """
        from llamashield._guard import LlamaGuard
        from llamashield.backends.ollama import OllamaBackend

        names = ("mode", "logprobs", "keep_alive", "options", "taxonomy", "max_tokens")
        backend_options = {k: options.pop(k) for k in names if k in options}
        backend = OllamaBackend(self.base_url, model or self.guard_model, **backend_options)
        return self._keep(LlamaGuard(backend, **options))

    def _keep(self, guard: LlamaGuard) -> LlamaGuard:
        with self._lock:
            self._guards.append(guard)
        return guard

    # -- HTTP -----------------------------------------------------------------------------

    def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Coroutine[Any, Any, None]:
        """Called as each connection is made (the handler runs later, as a task)."""
        self._writers.add(writer)
        return self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                keep_alive = await self._respond(writer, *request)
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _respond(
        self, writer: asyncio.StreamWriter, method: str, path: str, headers: dict[str, str],
        raw: bytes,
    ) -> bool:  # fmt: skip
        # Backends' first-use probes (what server is this, its context, its BOS) are answered
        # at once: faults and latency model the guard's calls, which the tests count.
        if (method, path.split("?", 1)[0]) in _PROBES:
            await _write_json(writer, self._route(method, path, headers, raw, None))
            return headers.get("connection", "").lower() != "close"
        fault = self.faults.next()
        if fault is not None and fault.kind == "drop":
            return False
        if fault is not None and fault.kind == "hang":
            await asyncio.sleep(fault.hang_seconds)
            return False
        if self.latency:
            await asyncio.sleep(self.latency)
        response = self._route(method, path, headers, raw, fault)
        if response.stream is not None:
            await self._write_stream(writer, response.stream)
            return False
        if response.ndjson is not None:
            await self._write_ndjson(writer, response.ndjson)
            return False
        await _write_json(writer, response)
        return headers.get("connection", "").lower() != "close"

    def _route(
        self, method: str, path: str, headers: dict[str, str], raw: bytes, fault: Fault | None
    ) -> Response:
        path = path.split("?", 1)[0]
        authorized = headers.get("authorization") == f"Bearer {self.api_key}"
        if self.api_key and not authorized and not path.startswith("/upload/"):  # presigned PUT
            return Response(401, {"error": {"message": "invalid API key"}})
        if self.engine == "ollama":
            return self._route_ollama(method, path, raw, fault)
        if (files := self.batches.handle(method, path, headers, raw, self.base_url)) is not None:
            return files
        if method == "GET" and path.rstrip("/").endswith("/models"):
            return Response(body={"object": "list", "data": [{"id": self.guard_model}]})
        if method != "POST":
            return Response(404, {"error": {"message": f"no route {method} {path}"}})
        try:
            body = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return Response(400, {"error": {"message": "body is not JSON"}})
        if not isinstance(body, dict):
            return Response(400, {"error": {"message": "body must be a JSON object"}})
        safety_model = body.get("safety_model")
        if safety_model is not None and not (isinstance(safety_model, str) and safety_model):
            return Response(400, {"error": {"message": "safety_model must be a model id"}})
        with self._lock:
            self.requests[f"{path} {body.get('model')}"] += 1
            self.bodies.append(body)
            del self.bodies[:-1000]
            if safety_model is not None:
                self.safety_models.append((path, str(body.get("model")), safety_model))
        if fault is not None and fault.kind == "status":
            headers_out = {}
            if fault.retry_after is not None:
                headers_out["Retry-After"] = f"{fault.retry_after:g}"
            return Response(fault.status, {"error": {"message": "injected fault"}}, headers_out)
        try:
            return self.responder.handle(path, body, malformed=fault is not None)
        except BadRequest as exc:
            return bad_request(exc)

    def _route_ollama(self, method: str, path: str, raw: bytes, fault: Fault | None) -> Response:
        with contextlib.suppress(json.JSONDecodeError, UnicodeDecodeError):
            body = json.loads(raw) if raw.strip() else None
            if isinstance(body, dict):
                with self._lock:
                    self.requests[f"{path} {body.get('model')}"] += 1
                    self.bodies.append(body)
                    del self.bodies[:-1000]
        if fault is not None and fault.kind == "status":
            headers_out = {}
            if fault.retry_after is not None:
                headers_out["Retry-After"] = f"{fault.retry_after:g}"
            message: Any = "injected fault"
            if path.startswith("/v1/"):
                message = {"message": message, "type": "api_error", "param": None, "code": None}
            return Response(fault.status, {"error": message}, headers_out)
        return self.ollama.handle(method, path, raw)

    def _batch_answer(self, endpoint: str, body: dict[str, Any]) -> Response:
        try:
            return self.responder.handle(endpoint, body)
        except BadRequest as exc:
            return bad_request(exc)

    async def _write_stream(self, writer: asyncio.StreamWriter, payloads: list[str]) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
        )
        for payload in payloads:
            writer.write(f"data: {payload}\n\n".encode())
            await writer.drain()
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)

    async def _write_ndjson(self, writer: asyncio.StreamWriter, lines: list[str]) -> None:
        """Ollama's streams: one JSON object a line, chunked, until the connection closes."""
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        for line in lines:
            data = (line + "\n").encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def _read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, str, dict[str, str], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length > _MAX_BODY:
        return None
    body = await reader.readexactly(length) if length else b""
    return parts[0], parts[1], headers, body


async def _write_json(writer: asyncio.StreamWriter, response: Response) -> None:
    if response.raw is not None:
        payload, content_type = response.raw, "application/octet-stream"
    elif response.text is not None:
        payload, content_type = response.text.encode(), "text/plain; charset=utf-8"
    else:
        payload, content_type = json.dumps(response.body).encode(), "application/json"
    reason = _REASONS.get(response.status, "Error")
    head = [f"HTTP/1.1 {response.status} {reason}", f"Content-Type: {content_type}",
            f"Content-Length: {len(payload)}"]  # fmt: skip
    head += [f"{k}: {v}" for k, v in response.headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
    await writer.drain()
