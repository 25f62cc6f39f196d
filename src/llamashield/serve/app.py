"""The moderation service: a Starlette app that runs one ``LlamaGuard`` on uvicorn's loop.

Every POST goes through one gate, in this order: the key (401, before any of the body is
read), the concurrency limit (429 at once, never a queue that hides overload), the deadline
(504) over reading the body (413 past the size limit) and judging it. Logs carry the endpoint,
status, timing and counts: never a word of what was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from llamashield._exceptions import ConfigurationError, GuardUnavailableError
from llamashield._guard import LlamaGuard
from llamashield._verdict import Verdict
from llamashield.serve.auth import KeyStore
from llamashield.serve.config import ServeConfig, build_guard
from llamashield.serve.errors import ApiError
from llamashield.serve.metrics import ServeMetrics
from llamashield.serve.openai_api import moderation_result, read_inputs

__all__ = ["create_app"]

logger = logging.getLogger("llamashield.serve")

Judge = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def create_app(
    config: ServeConfig, *, guard: LlamaGuard | None = None, keys: KeyStore | None = None
) -> Starlette:
    """The ASGI app. ``guard`` defaults to the one the config describes; ``keys`` to the
    config's and the environment's. The app owns the guard: it warms it up before the first
    request and closes it at shutdown. Raises ``ConfigurationError`` when no key is
    configured, unless ``no_auth`` says to serve without authentication."""
    keys = keys if keys is not None else KeyStore.load(config.api_key_hashes, config.api_keys_file)
    if not len(keys) and not config.no_auth:
        raise ConfigurationError(
            "no API keys configured: set LLAMASHIELD_API_KEYS, --api-keys-file or "
            "api_key_hashes (or --no-auth to serve without authentication)"
        )
    service = _Service(config, guard or build_guard(config), keys)
    _quiet_sdk_request_logs()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.guard.awarm_up()  # the first request must not pay imports and set-up
        logger.info("llamashield serve: %s ready (%d keys)", service.guard.model, len(keys))
        try:
            yield
        finally:
            await service.guard.aclose()

    app = Starlette(
        routes=[
            Route("/v1/moderations", service.moderations, methods=["POST"]),
            Route("/v1/llamaguard/check", service.llamaguard_check, methods=["POST"]),
            Route("/healthz", service.healthz, methods=["GET"]),
            Route("/metrics", service.metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.metrics = service.metrics
    return app


# SDK loggers that write whole request bodies (the judged text) at DEBUG.
_CONTENT_LOGGERS = ("together", "openai")


def _quiet_sdk_request_logs() -> None:
    """Keep the backend SDKs' request dumps out of the service's logs: their DEBUG records
    hold the text being judged. A logger set to DEBUG explicitly after this stays so."""
    for name in _CONTENT_LOGGERS:
        sdk = logging.getLogger(name)
        if sdk.getEffectiveLevel() < logging.INFO:
            sdk.setLevel(logging.INFO)


class _Service:
    def __init__(self, config: ServeConfig, guard: LlamaGuard, keys: KeyStore) -> None:
        self.config = config
        self.guard = guard
        self.keys = keys
        self.metrics = ServeMetrics()
        self.in_flight = 0  # one event loop: a plain counter is exact
        self.models = {guard.model, *config.model_aliases}

    # -- endpoints ------------------------------------------------------------------------

    async def moderations(self, request: Request) -> Response:
        return await self._gate(request, "moderations", self._moderate)

    async def llamaguard_check(self, request: Request) -> Response:
        return await self._gate(request, "llamaguard_check", self._check_conversation)

    async def healthz(self, request: Request) -> Response:
        breaker = self.guard.circuit_breaker
        return JSONResponse({
            "status": "ok", "model": self.guard.model,
            "backend": type(self.guard.backend).__name__,
            "circuit_open": bool(breaker is not None and breaker.is_open),
        })  # fmt: skip

    async def metrics_endpoint(self, request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(self.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    # -- the gate -------------------------------------------------------------------------

    async def _gate(self, request: Request, endpoint: str, judge: Judge) -> Response:
        started = time.perf_counter()
        response: Response
        try:
            if not self.config.no_auth:
                self._authorize(request.headers.get("authorization"))
            response = await self._limited(request, judge)
        except ApiError as error:
            response = error.response()
        except Exception as exc:  # the type only: a message may quote the input
            logger.error("llamashield serve: %s failed with %s", endpoint, type(exc).__name__)
            response = ApiError(500, "internal error", type="server_error").response()
        elapsed = time.perf_counter() - started
        self.metrics.requests.labels(endpoint, str(response.status_code)).inc()
        self.metrics.latency.labels(endpoint).observe(elapsed)
        logger.info("llamashield serve: POST %s %d in %.1f ms", endpoint,
                    response.status_code, elapsed * 1000)  # fmt: skip
        return response

    def _authorize(self, authorization: str | None) -> None:
        if not authorization:
            raise ApiError(401, "no API key: send 'Authorization: Bearer <key>'",
                           code="missing_api_key")  # fmt: skip
        if not self.keys.accepts(authorization):
            raise ApiError(401, "the API key is not valid for this server", code="invalid_api_key")

    async def _limited(self, request: Request, judge: Judge) -> Response:
        if self.in_flight >= self.config.max_concurrency:
            raise ApiError(429, f"this server judges {self.config.max_concurrency} requests at "
                           "once; retry shortly", type="requests", code="rate_limit_exceeded",
                           retry_after=1)  # fmt: skip
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            async with asyncio.timeout(self.config.deadline):
                body = await self._read_json(request)
                return JSONResponse(await judge(body))
        except TimeoutError:
            raise ApiError(504, f"no answer within the {self.config.deadline:g}s deadline",
                           type="server_error", code="timeout") from None  # fmt: skip
        except GuardUnavailableError:  # on_error="raise": the client decides
            raise ApiError(503, "the guard model is unavailable; retry later",
                           type="server_error", code="guard_unavailable") from None  # fmt: skip
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()

    async def _read_json(self, request: Request) -> dict[str, Any]:
        limit = self.config.max_body_bytes
        too_big = ApiError(413, f"the request body exceeds {limit} bytes", code="body_too_large")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_big
        chunks, size = [], 0
        async for chunk in request.stream():  # a chunked body is counted as it arrives
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
        try:
            body = json.loads(b"".join(chunks))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(400, "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return body

    def _model(self, body: dict[str, Any]) -> str:
        model = body.get("model")
        if model is not None and (not isinstance(model, str) or model not in self.models):
            shown = model if isinstance(model, str) and len(model) <= 100 else type(model).__name__
            raise ApiError(400, f"invalid value for 'model' = {shown}; this server serves "
                           f"{self.guard.model} (or {', '.join(self.config.model_aliases)})",
                           param="model", code="model_not_found")  # fmt: skip
        return self.guard.model

    # -- judging --------------------------------------------------------------------------

    async def _moderate(self, body: dict[str, Any]) -> dict[str, Any]:
        model = self._model(body)
        inputs = read_inputs(body, self.config.max_batch)
        verdicts = await self._judge_many(inputs)
        images = [_has_images(i) for i in inputs]
        return {
            "id": f"modr-{uuid.uuid4().hex}",
            "model": model,
            "results": [
                moderation_result(v, has_images=m) for v, m in zip(verdicts, images, strict=True)
            ],
        }

    async def _check_conversation(self, body: dict[str, Any]) -> dict[str, Any]:
        self._model(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ApiError(400, "'messages' must be a non-empty list of {'role', 'content'} "
                           "messages", param="messages")  # fmt: skip
        (verdict,) = await self._judge_many([messages], param="messages")
        return verdict.model_dump(mode="json")

    async def _judge_many(self, conversations: list[Any], param: str = "input") -> list[Verdict]:
        try:
            verdicts = await self.guard.acheck_many(conversations)
        except (ValueError, TypeError) as exc:  # a conversation the guard cannot read
            raise ApiError(400, f"cannot judge this input: {exc}", param=param) from None
        for verdict in verdicts:
            outcome = "error" if verdict.error else "flagged" if verdict.flagged else "safe"
            self.metrics.inputs.labels(outcome).inc()
            if verdict.cached:
                self.metrics.cache_hits.inc()
        return verdicts


def _has_images(conversation: Any) -> bool:
    if not isinstance(conversation, list):
        return False
    return any(
        isinstance(part, dict) and part.get("type") == "image_url"
        for message in conversation
        for part in (message.get("content") if isinstance(message.get("content"), list) else [])
    )
