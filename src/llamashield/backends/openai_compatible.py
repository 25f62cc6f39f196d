"""``OpenAICompatibleBackend``: Llama Guard behind vLLM, llama.cpp, TGI or LM Studio."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any, Literal

import httpx

from llamashield._exceptions import ConfigurationError
from llamashield._loop_local import LoopLocal
from llamashield._redact import redact_url, register_secrets, url_secrets
from llamashield._taxonomy import Taxonomy, taxonomy_named_by
from llamashield.backends._answers import answer_from_completion
from llamashield.backends._base import (
    BackendAnswer,
    BackendError,
    Capabilities,
    GuardRequest,
)
from llamashield.backends._errors import status_error
from llamashield.backends._exchange import Call, Exchange, ExchangeBackend
from llamashield.backends._served import (
    PREFILL_MESSAGE,
    SERVER_FLAGS,
    Served,
    combine_answers,
    context_from_error,
    continues_judged_turn,
    fit,
    probe,
    window_chars,
)

__all__ = ["OpenAICompatibleBackend"]

# How to have images read, by mode: quoted where an image cannot be judged.
_IMAGE_HINTS = {
    "completions": "OpenAICompatibleBackend(mode='chat') so the server reads the image",
    "chat": Capabilities().image_hint,
}

_OLLAMA = (
    "{url} is Ollama, whose /v1/completions wraps every prompt in the model's template again "
    "(it never sends it raw): llamashield's prompt would become the User turn of a second guard "
    "prompt, and every verdict would be read from that. Use "
    "OllamaBackend(base_url={root!r}, model={model!r}) from llamashield.backends, which sends "
    "the prompt raw on /api/generate"
)
_OLLAMA_AGENT = (
    "Ollama's llama-guard3 template judges every conversation as a User turn (its last line "
    "says 'ONLY THE LAST User message'), so an Agent turn cannot be judged on mode='chat' at "
    "Ollama: use OllamaBackend (raw prompts on /api/generate)"
)


def _no_taxonomy(model: str) -> ConfigurationError:
    return ConfigurationError(
        f"model {model!r} names no Llama Guard generation (a local file or alias), and the "
        "generations number their categories differently (S5 is Specialized Advice in Llama "
        "Guard 2, Defamation in 3 and 4): pass taxonomy=, e.g. "
        "taxonomy=llamashield.LLAMA_GUARD_3 (LLAMA_GUARD_1, _2, _3_1B, _4)"
    )


class OpenAICompatibleBackend(ExchangeBackend):
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

    At first use it asks the server what it is (``probe=True``): an Ollama server is refused
    in completions mode (its ``/v1/completions`` wraps the prompt in the template again: use
    ``OllamaBackend``); on llama.cpp, llama-cpp-python and vLLM it learns the served context,
    so a long conversation is judged in windows that fit it, and it checks with the server's
    tokenizer that exactly one BOS reaches the model (where the model adds none, the prompt
    carries it). A model id that names no Llama Guard generation needs ``taxonomy=``.

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
        probe: bool = True,
    ) -> None:
        if mode not in ("completions", "chat"):
            raise ValueError(f"mode must be 'completions' or 'chat', got {mode!r}")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self.model = model
        self.mode = mode
        named = taxonomy or taxonomy_named_by(model)
        if named is None:
            raise _no_taxonomy(model)
        self.taxonomy = named
        register_secrets(api_key, *url_secrets(base_url))
        parts = urllib.parse.urlsplit(base_url)
        host = parts.netloc.rpartition("@")[2]
        root = urllib.parse.urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
        # Requests go to the URL without user information (sent as Basic auth below) and with
        # the query; reprs and errors show ``base_url``, its credentials masked.
        self._api = root if root.endswith("/v1") else f"{root}/v1"
        self._query = f"?{parts.query}" if parts.query else ""
        self.base_url = redact_url(self._api + self._query)
        self.root = self._api.removesuffix("/v1")
        self.probe = probe
        # What the server is, learned at first use (None: not yet, or it was unreachable).
        self.served: Served | None = None if probe else Served()
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
    def capabilities(self) -> Capabilities:
        """Scores only when logprobs are requested; llamashield's prompt (custom categories)
        reaches the model on raw completions only; Llama Guard 4 in chat mode reads images,
        which a raw ``/v1/completions`` prompt cannot carry."""
        chat = self.mode == "chat"
        return Capabilities(
            gives_scores=bool(self.logprobs),
            sends_prompt=not chat,
            supports_images=chat and self.taxonomy.generation == 4,
            score_hint="OpenAICompatibleBackend(..., logprobs=5)",
            image_hint=_IMAGE_HINTS[self.mode],
            provider="openai_compatible",
            cache_settings=(
                "mode", self.mode, "max_tokens", self.max_tokens, "logprobs", self.logprobs,
            ),
        )  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"OpenAICompatibleBackend(base_url={self.base_url!r}, model={self.model!r}, "
            f"mode={self.mode!r})"
        )

    def _request(self, request: GuardRequest, served: Served) -> Call:
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
            return Call("POST", f"{self._api}/chat/completions{self._query}", body)
        # The server adds the one BOS; where the probe found it adds none, the text carries it.
        body["prompt"] = served.bos_text + request.completion_prompt
        if self.logprobs:
            body["logprobs"] = self.logprobs
        return Call("POST", f"{self._api}/completions{self._query}", body)

    def _exchange(self, request: GuardRequest) -> Exchange[BackendAnswer]:
        """The whole check: first-use probe, windows that fit the served context, answers."""
        if self.served is None:
            self.served = yield from probe(
                self.root, self._api, self.model,
                completions=self.mode == "completions", generation=self.taxonomy.generation,
            )  # fmt: skip
        served = self.served or Served()
        if served.kind == "ollama":
            if self.mode == "completions":
                raise ConfigurationError(
                    _OLLAMA.format(url=self.root, root=self.root, model=self.model)
                )
            if request.role == "agent":
                raise ConfigurationError(_OLLAMA_AGENT)
        for _ in range(4):  # each overflow teaches a smaller window (at most three times)
            parts = [request]
            if served.context is not None:
                window = window_chars(request, served.context, self.max_tokens)
                parts = fit(request, window // served.squeeze)
            answers: list[BackendAnswer] = []
            for part in parts:
                reply = yield self._request(part, served)
                assert reply is not None  # a real request fails in the driver, never here
                context = context_from_error(reply.text) if reply.status_code == 400 else None
                if context is not None:
                    # The server named its context: fit the windows to it, or halve them when
                    # the estimate of characters per token was too generous for this text.
                    if served.context == context:
                        served.squeeze *= 2
                    served.context = context
                    break
                answer = self._answer(reply)
                if self.mode == "chat" and continues_judged_turn(answer.text, part, served.kind):
                    raise ConfigurationError(PREFILL_MESSAGE)
                answers.append(answer)
            else:
                return combine_answers(answers, request)
        raise BackendError(
            f"the conversation does not fit the served context ({served.context} tokens): "
            f"restart the server with a larger one ({SERVER_FLAGS})",
            kind="rejected",
        )

    def _answer(self, response: httpx.Response) -> BackendAnswer:
        if response.status_code >= 400:
            raise status_error(
                response.status_code,
                response.text,
                model=self.model,
                service=self._service(),
                key_hint="pass the server's api_key=",
                headers=response.headers,
                secret=self.__api_key,
                url=_request_url(response),
            )
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BackendError("guard server answered invalid JSON", kind="malformed") from None
        ollama = isinstance(body, dict) and body.get("system_fingerprint") == "fp_ollama"
        if ollama and self.mode == "completions":  # Ollama's OpenAI layer (openai/openai.go)
            raise ConfigurationError(
                _OLLAMA.format(url=self.root, root=self.root, model=self.model)
            )
        return answer_from_completion(body, self.model, chat=self.mode == "chat")

    def _service(self) -> str:
        return f"guard server {self.base_url}"


def _request_url(response: httpx.Response) -> str | None:
    try:
        return str(response.request.url)
    except RuntimeError:  # a Response built without a request
        return None
