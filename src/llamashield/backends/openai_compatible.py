"""``OpenAICompatibleBackend``: Llama Guard behind vLLM, Ollama, llama.cpp, TGI or LM Studio."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any, Literal

import httpx

from llamashield._loop_local import LoopLocal
from llamashield._redact import redact_url, register_secrets, url_secrets
from llamashield._taxonomy import Taxonomy, taxonomy_for_model
from llamashield.backends._answers import answer_from_completion
from llamashield.backends._base import (
    BackendAnswer,
    BackendError,
    Closeable,
    GuardRequest,
    warm_async_http,
)
from llamashield.backends._errors import connection_error, status_error

__all__ = ["OpenAICompatibleBackend"]


class OpenAICompatibleBackend(Closeable):
    """Llama Guard on any server that speaks OpenAI's completions protocol.

    ``mode="completions"`` (default) sends llamashield's own prompt to ``/v1/completions``, so
    the Agent role and custom categories are exact (Ollama's chat template, for one, always
    judges the User) and asks for logprobs to fill ``Verdict.score``; the prompt goes without
    its ``<|begin_of_text|>`` text, since the server adds BOS (exactly one reaches the model).
    ``mode="chat"`` lets the server apply the model's chat template on ``/v1/chat/completions``
    (then a custom policy or ``exclude_from_prompt`` is a ``ConfigurationError``).

    Credentials in ``base_url`` work and never show: ``https://user:pass@host`` is sent as HTTP
    Basic auth (the URL the client holds has no user information), a query (``?key=...``)
    goes with every request, and ``base_url``, ``repr`` and every error show them as ``***``.

    Example::

        backend = OpenAICompatibleBackend(
            base_url="http://localhost:8000/v1", model="meta-llama/Meta-Llama-Guard-2-8B")
        guard = LlamaGuard(backend, threshold=0.5)
        ...
        await guard.aclose()          # or: async with LlamaGuard(backend) as guard: ...
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        mode: Literal["completions", "chat"] = "completions",
        taxonomy: Taxonomy | None = None,
        max_tokens: int = 20,
        logprobs: int | None = 5,
        headers: dict[str, str] | None = None,
    ) -> None:
        if mode not in ("completions", "chat"):
            raise ValueError(f"mode must be 'completions' or 'chat', got {mode!r}")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self.model = model
        self.mode = mode
        self.taxonomy = taxonomy or taxonomy_for_model(model)
        register_secrets(api_key, *url_secrets(base_url))
        parts = urllib.parse.urlsplit(base_url)
        host = parts.netloc.rpartition("@")[2]
        root = urllib.parse.urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
        self._root = root if root.endswith("/v1") else f"{root}/v1"
        self._query = f"?{parts.query}" if parts.query else ""
        # What reprs and errors show: the URL with its credentials masked.
        self.base_url = redact_url(self._root + self._query)
        self.max_tokens = max_tokens
        self.logprobs = logprobs
        self.__api_key = api_key
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        # A user:password in the URL is HTTP Basic auth, as httpx reads it from a URL; kept
        # out of the URL, it cannot reach the client's logs or exceptions.
        user, password = (urllib.parse.unquote(p or "") for p in (parts.username, parts.password))
        auth = httpx.BasicAuth(user, password) if user or password else None
        self._client = httpx.Client(headers=self._headers, auth=auth)
        self._aclients = LoopLocal(lambda: httpx.AsyncClient(headers=self._headers, auth=auth))

    @property
    def supports_images(self) -> bool:
        """Llama Guard 4 in chat mode reads images; a raw ``/v1/completions`` prompt cannot."""
        return self.mode == "chat" and self.taxonomy.generation == 4

    # Capabilities the guard checks at construction (a setting that cannot apply is an error).
    @property
    def sends_prompt(self) -> bool:
        """Whether llamashield's prompt (with custom categories) reaches the model."""
        return self.mode == "completions"

    @property
    def gives_scores(self) -> bool:
        """Whether answers carry P(unsafe): only when logprobs are requested."""
        return bool(self.logprobs)

    score_hint = "OpenAICompatibleBackend(..., logprobs=5)"

    @property
    def cache_settings(self) -> tuple[object, ...]:
        """What shapes the answer besides the model and logprobs: a verdict cache keys on it."""
        return ("mode", self.mode, "max_tokens", self.max_tokens)

    def __repr__(self) -> str:
        return (
            f"OpenAICompatibleBackend(base_url={self.base_url!r}, model={self.model!r}, "
            f"mode={self.mode!r})"
        )

    def _request(self, request: GuardRequest) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "temperature": 0.0,
        }
        if self.mode == "chat":
            body["messages"] = request.chat_messages()
            if self.logprobs:
                body["logprobs"] = True
                body["top_logprobs"] = self.logprobs
            return f"{self._root}/chat/completions{self._query}", body
        body["prompt"] = request.completion_prompt  # the server adds the one BOS
        if self.logprobs:
            body["logprobs"] = self.logprobs
        return f"{self._root}/completions{self._query}", body

    def _answer(self, response: httpx.Response) -> BackendAnswer:
        if response.status_code >= 400:
            raise status_error(
                response.status_code,
                response.text,
                model=self.model,
                service=f"guard server {self.base_url}",
                key_hint="pass the server's api_key=",
                headers=response.headers,
                secret=self.__api_key,
                url=_request_url(response),
            )
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BackendError("guard server answered invalid JSON", kind="malformed") from None
        return answer_from_completion(body, self.model, chat=self.mode == "chat")

    def _failure(self, exc: httpx.HTTPError) -> BackendError:
        return connection_error(
            f"guard server {self.base_url}",
            exc,
            timed_out=isinstance(exc, httpx.TimeoutException),
            secret=self.__api_key,
        )

    def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        self._ensure_open()
        url, body = self._request(request)
        try:
            response = self._client.post(url, json=body, timeout=timeout)
        except httpx.HTTPError as exc:
            raise self._failure(exc) from None
        return self._answer(response)

    async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        self._ensure_open()
        url, body = self._request(request)
        try:
            response = await self._aclients.get().post(url, json=body, timeout=timeout)
        except httpx.HTTPError as exc:
            raise self._failure(exc) from None
        return self._answer(response)

    def warm_up(self) -> None:
        """Nothing to load: the sync client is made with the backend."""

    async def awarm_up(self) -> None:
        """Make this loop's async client now rather than on the first check."""
        await warm_async_http()
        self._aclients.get()

    def _release(self) -> None:
        self._client.close()

    async def _arelease(self) -> None:
        await self._aclose_on_running_loop(self._aclients.pop_all())


def _request_url(response: httpx.Response) -> str | None:
    try:
        return str(response.request.url)
    except RuntimeError:  # a Response built without a request
        return None
