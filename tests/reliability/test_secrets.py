"""The API key never leaks: not in reprs, verdicts, log records, exception messages or tracebacks.

Every failure a backend can meet (401, 404, 500, a server that echoes the key back, a closed
port, a timeout) runs through ``TogetherBackend`` (the real SDK) and
``OpenAICompatibleBackend`` (httpx), sync and async, under ``on_error="raise"`` and
``"block"``, with every logger (httpx, httpcore, together, llamashield, ...) at DEBUG.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llamashield import LlamaGuard, LlamaShieldError
from llamashield.backends import OpenAICompatibleBackend, TogetherBackend
from llamashield.testing import LoopbackServer
from tests._support.raw_http import RawServer, Request

pytest.importorskip("together")

SECRET = "sk-llamashield-9f8e7d6c5b4a-SECRET"
MODEL = "meta-llama/LlamaGuard-2-8b"
BACKENDS = ["together", "openai"]


class _EverythingHandler(logging.Handler):
    """Keeps each record fully rendered: message, args, extras and traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))
        self.texts.append(repr(record.args))
        self.texts.append(repr({k: v for k, v in vars(record).items() if k != "args"}))


@pytest.fixture
def logs() -> Iterator[_EverythingHandler]:
    handler = _EverythingHandler()
    names = ["", "httpx", "httpcore", "together", "llamashield", "asyncio", "urllib3"]
    loggers = [logging.getLogger(name) for name in names]
    saved = [(logger, logger.level, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.propagate = True
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)
    for logger, level, propagate in saved:
        logger.setLevel(level)
        logger.propagate = propagate


def _echo_key(request: Request) -> tuple[int, bytes]:
    """A careless server: its 401 body quotes the Authorization header it was sent."""
    message = f"bad key: {request.headers.get('authorization')}"
    return 401, json.dumps({"error": {"message": message}}).encode()


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    with RawServer(_echo_key) as server:
        yield server.url


@pytest.fixture(scope="module")
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more: connection refused


def _backend(kind: str, url: str) -> TogetherBackend | OpenAICompatibleBackend:
    if kind == "together":
        return TogetherBackend(MODEL, api_key=SECRET, base_url=url)
    return OpenAICompatibleBackend(f"{url}/v1", MODEL, api_key=SECRET)


def _exception_texts(exc: BaseException) -> list[str]:
    """What a person or an error tracker sees: the formatted chain, and each shown exception."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: BaseException | None = exc
    while seen is not None:
        texts += [str(seen), repr(seen), repr(getattr(seen, "args", ()))]
        texts += [repr(v) for v in vars(seen).values()] if hasattr(seen, "__dict__") else []
        shown_context = None if seen.__suppress_context__ else seen.__context__
        seen = seen.__cause__ or shown_context
    return texts


def _collect(guard: LlamaGuard, *, run_async: bool) -> list[str]:
    """Texts from one check: the verdict, or the raised error and its traceback. Closes
    ``guard``."""
    with guard:
        return _check_texts(guard, run_async=run_async)


def _check_texts(guard: LlamaGuard, *, run_async: bool) -> list[str]:
    texts = [repr(guard), str(guard), repr(guard.backend), str(guard.backend)]
    try:
        if run_async:
            verdict = asyncio.run(guard.acheck("How do I bake bread?"))
        else:
            verdict = guard.check("How do I bake bread?")
    except LlamaShieldError as exc:
        assert guard.policy.on_error == "raise"
        return [*texts, *_exception_texts(exc)]
    assert not verdict.safe and verdict.error, verdict  # a failure is never safe
    return [*texts, str(verdict), repr(verdict), verdict.model_dump_json(), verdict.error]


def _assert_clean(texts: list[str], logs: _EverythingHandler) -> None:
    everything = texts + logs.texts
    leaks = [text for text in everything if SECRET in text or SECRET[8:24] in text]
    assert not leaks, leaks[0][:2000]
    assert logs.texts, "nothing was logged: the capture is not working"


Scenario = Callable[[LoopbackServer], tuple[str, dict[str, Any]]]


def _unauthorized(server: LoopbackServer) -> tuple[str, dict[str, Any]]:
    server.api_key = "the-right-key"  # anything else gets a 401
    return server.base_url, {}


def _status(status: int) -> Scenario:
    def scenario(server: LoopbackServer) -> tuple[str, dict[str, Any]]:
        server.inject("status", status=status, times=None)
        return server.base_url, {"max_retries": 1}

    return scenario


def _hang(server: LoopbackServer) -> tuple[str, dict[str, Any]]:
    server.inject("hang", hang_seconds=5.0, times=None)
    return server.base_url, {"timeout": 0.3}


def _dropped(server: LoopbackServer) -> tuple[str, dict[str, Any]]:
    server.inject("drop", times=None)
    return server.base_url, {"max_retries": 1}


SCENARIOS: dict[str, Scenario] = {
    "401_unauthorized": _unauthorized,
    "404_unknown_model": _status(404),
    "500_server_error": _status(500),
    "timeout": _hang,
    "dropped_connection": _dropped,
}


@pytest.mark.parametrize("on_error", ["raise", "block"])
@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_key_never_leaks_from_a_failed_check(
    scenario: str, backend: str, run_async: bool, on_error: str, logs: _EverythingHandler
) -> None:
    with LoopbackServer() as server:
        url, policy = SCENARIOS[scenario](server)
        guard = LlamaGuard(_backend(backend, url), on_error=on_error, **policy)  # type: ignore[arg-type]
        texts = _collect(guard, run_async=run_async)
    _assert_clean(texts, logs)


@pytest.mark.parametrize("on_error", ["raise", "block"])
@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_key_never_leaks_when_the_server_echoes_it(
    backend: str, run_async: bool, on_error: str, echo_url: str, logs: _EverythingHandler
) -> None:
    guard = LlamaGuard(_backend(backend, echo_url), on_error=on_error)  # type: ignore[arg-type]
    texts = _collect(guard, run_async=run_async)
    assert any("***" in text for text in texts), "the echoed key was not redacted"
    _assert_clean(texts, logs)


@pytest.mark.parametrize("on_error", ["raise", "block"])
@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_key_never_leaks_on_connection_refused(
    backend: str, run_async: bool, on_error: str, closed_port_url: str, logs: _EverythingHandler
) -> None:
    guard = LlamaGuard(_backend(backend, closed_port_url), on_error=on_error, max_retries=0)  # type: ignore[arg-type]
    _assert_clean(_collect(guard, run_async=run_async), logs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_key_never_leaks_from_a_successful_check(
    backend: str, logs: _EverythingHandler, loopback_server: LoopbackServer
) -> None:
    loopback_server.api_key = SECRET  # the server demands this very key, so checks succeed
    with LlamaGuard(_backend(backend, loopback_server.base_url)) as guard:
        verdict = guard.check("How do I make a bomb?")
    assert not verdict.safe and verdict.error is None
    texts = [repr(guard), str(guard), repr(guard.backend), str(verdict), repr(verdict),
             verdict.model_dump_json(), repr(vars(verdict))]  # fmt: skip
    _assert_clean(texts, logs)


def test_missing_key_error_names_the_variable_not_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    with pytest.raises(LlamaShieldError, match="TOGETHER_API_KEY") as info:
        TogetherBackend(MODEL)
    assert SECRET not in "".join(traceback.format_exception(info.value))


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_exception_in_the_chain_holds_the_key_even_when_hidden(
    backend: str, echo_url: str
) -> None:
    """Tracebacks hide a context raised ``from None``, but some tools walk ``__context__``
    anyway: the SDK's own error (which quotes what the server said) must not be kept at all."""
    guard = LlamaGuard(_backend(backend, echo_url), on_error="raise")
    with guard, pytest.raises(LlamaShieldError) as info:
        guard.check("hi")
    seen: BaseException | None = info.value
    while seen is not None:
        assert SECRET not in str(seen) and SECRET not in repr(seen), type(seen).__name__
        seen = seen.__cause__ or seen.__context__
