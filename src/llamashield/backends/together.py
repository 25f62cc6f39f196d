"""``TogetherBackend``: Llama Guard on Together's API through the official ``together`` SDK."""

from __future__ import annotations

import os
from typing import Any

from llamashield._exceptions import ConfigurationError
from llamashield._loop_local import LoopLocal
from llamashield._redact import redact_url, register_secrets, url_secrets
from llamashield._taxonomy import Taxonomy, taxonomy_for_model
from llamashield.backends._answers import answer_from_completion
from llamashield.backends._base import (
    BackendAnswer,
    BackendError,
    BaseBackend,
    Capabilities,
    GuardRequest,
    warm_async_http,
)
from llamashield.backends._errors import connection_error, status_error

__all__ = ["TogetherBackend"]

_SERVICE = "Together"
# Top alternatives asked for at each position: enough that the verdict token's list holds both
# "safe" and "unsafe" (bare and space-prefixed), so the score is the model's probability and
# not 0 or 1 from a one-entry list.
TOP_LOGPROBS = 5
_KEY_HINT = "set TOGETHER_API_KEY to a valid key (https://api.together.ai/settings/api-keys)"


def _import_together() -> Any:
    try:
        import together
    except ImportError as exc:
        raise ImportError(
            "TogetherBackend needs the together SDK: pip install 'llamashield[together]'"
        ) from exc
    return together


# What the SDK raises, past its own APIError tree, when a 200 reply is not the JSON it expects
# (JSONDecodeError and pydantic's ValidationError are ValueErrors).
_UNREADABLE = (ValueError, TypeError, KeyError, AttributeError, IndexError)


def _malformed_reply() -> BackendError:
    # Not chained and not quoted: the SDK's message may echo the request.
    return BackendError(f"{_SERVICE} answered something unreadable", kind="malformed")


class TogetherBackend(BaseBackend):
    """Llama Guard served by Together (``/v1/chat/completions``; raw ``/v1/completions`` when
    the policy has custom categories or excludes some from the prompt, so llamashield builds
    the prompt; it is sent without the ``<|begin_of_text|>`` text, since the server adds BOS).

    ``logprobs=True`` asks for the top alternatives at each token and fills ``Verdict.score``
    with P(unsafe) at the verdict token.

    The SDK's own retries are turned off: the guard retries 429/5xx/connection failures itself,
    honouring Retry-After, inside one deadline.

    Example::

        backend = TogetherBackend()                        # TOGETHER_API_KEY from the env
        guard = LlamaGuard(backend)
        local = TogetherBackend(base_url="http://127.0.0.1:8080", api_key="test")
    """

    def __init__(
        self,
        model: str = "meta-llama/LlamaGuard-2-8b",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        taxonomy: Taxonomy | None = None,
        max_tokens: int = 20,
        logprobs: bool = False,
    ) -> None:
        api_key = api_key or os.environ.get("TOGETHER_API_KEY")
        if not api_key:
            raise ConfigurationError(
                "TogetherBackend needs an API key: set TOGETHER_API_KEY or pass api_key=; "
                "to run offline use LlamaGuard(SimulatedBackend()) or OpenAICompatibleBackend "
                "for a local server"
            )
        self.model = model
        self.taxonomy = taxonomy or taxonomy_for_model(model)
        url = base_url or os.environ.get("TOGETHER_BASE_URL") or None
        register_secrets(api_key, *(url_secrets(url) if url else ()))
        # What reprs and errors show: the URL with any credentials in it masked.
        self.base_url = redact_url(url) if url else None
        self.max_tokens = max_tokens
        self.logprobs = logprobs
        self.__api_key = api_key
        together = _import_together()
        self._client = together.Together(api_key=api_key, base_url=url, max_retries=0)
        self._aclients = LoopLocal(
            lambda: together.AsyncTogether(api_key=api_key, base_url=url, max_retries=0)
        )
        # What a call can fail with: the SDK's errors, or an answer that is not JSON (or not
        # text); ``_error`` maps each to its BackendError (an unreadable answer: "malformed").
        self._errors = (together.APIError, *_UNREADABLE)

    @property
    def capabilities(self) -> Capabilities:
        """Scores only when logprobs are requested; custom categories go out in llamashield's
        prompt on raw completions; Llama Guard 4 reads images, sent as ``image_url`` parts on
        chat completions."""
        return Capabilities(
            gives_scores=bool(self.logprobs),
            sends_prompt=True,
            supports_images=self.taxonomy.generation == 4,
            score_hint="TogetherBackend(logprobs=True)",
            provider="together_ai",
            cache_settings=("max_tokens", self.max_tokens, "logprobs", self.logprobs),
        )

    def __repr__(self) -> str:
        where = f", base_url={self.base_url!r}" if self.base_url else ""
        return f"TogetherBackend(model={self.model!r}{where})"

    def _params(self, request: GuardRequest, timeout: float) -> tuple[bool, dict[str, Any]]:
        chat = not request.taxonomy.needs_own_prompt
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "temperature": 0.0,
            "timeout": timeout,
        }
        if chat:
            params["messages"] = request.chat_messages()
        else:
            params["prompt"] = request.completion_prompt  # the server adds the one BOS
        if self.logprobs:
            if chat:
                # The SDK's `logprobs` is Together's top-k; OpenAI-protocol servers (vLLM) read
                # chat `logprobs` as a boolean, reject 5, and take the count as `top_logprobs`.
                # 1 is valid for both; a server that returns only the sampled token is scored
                # from that token's own logprob.
                params["logprobs"] = 1
                params["extra_body"] = {"top_logprobs": TOP_LOGPROBS}
            else:
                params["logprobs"] = TOP_LOGPROBS
        return chat, params

    def warm_up(self) -> None:
        """Load the SDK's resource modules now: its clients import them on first use, which
        costs a first check 0.3-0.6 s; and its platform headers, which it reads once a process
        by running ``uname`` (about 15 ms)."""
        for api in (self._client.chat.completions, self._client.completions):
            api.with_raw_response  # noqa: B018 - the attribute access is the work
        self._client.default_headers  # noqa: B018

    async def awarm_up(self) -> None:
        """``warm_up``, and this loop's async client made and loaded."""
        self.warm_up()
        await warm_async_http()
        client = self._aclients.get()
        for api in (client.chat.completions, client.completions):
            api.with_raw_response  # noqa: B018

    def _release(self) -> None:
        self._client.close()

    async def _arelease(self) -> None:
        await self._aclose_on_running_loop(self._aclients.pop_all())

    def _error(self, exc: Exception) -> BackendError:
        together = _import_together()
        if isinstance(exc, together.APIStatusError):
            detail = getattr(exc, "message", "") or ""
            return status_error(
                exc.status_code,
                detail,
                model=self.model,
                service=_SERVICE,
                key_hint=_KEY_HINT,
                headers=exc.response.headers,
                secret=self.__api_key,
                url=_request_url(exc),
            )
        if not isinstance(exc, together.APIConnectionError):
            return _malformed_reply()
        timed_out = isinstance(exc, together.APITimeoutError)
        return connection_error(_SERVICE, exc, timed_out=timed_out, secret=self.__api_key)

    # ``with_raw_response``: the SDK builds, sends and routes the request (auth, base URL,
    # error mapping) but leaves the answer as JSON; its typed response models cost more than
    # everything else in a check, and the guard reads three fields.

    def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        self._ensure_open()
        chat, params = self._params(request, timeout)
        try:
            api = self._client.chat.completions if chat else self._client.completions
            body = api.with_raw_response.create(**params).json()
        except self._errors as exc:
            error = self._error(exc)
        else:
            return answer_from_completion(body, self.model, chat=chat)
        raise error  # outside `except`: the SDK error, which may quote the key, is not chained

    async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        self._ensure_open()
        chat, params = self._params(request, timeout)
        client = self._aclients.get()
        try:
            api = client.chat.completions if chat else client.completions
            body = await (await api.with_raw_response.create(**params)).json()
        except self._errors as exc:
            error = self._error(exc)
        else:
            return answer_from_completion(body, self.model, chat=chat)
        raise error


def _request_url(exc: Any) -> str | None:
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    return str(url) if url is not None else None
