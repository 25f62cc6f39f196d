"""``OllamaBackend``: Llama Guard on Ollama's native API, with llamashield's exact prompt.

Ollama's OpenAI layer cannot carry a Llama Guard prompt: ``/v1/completions`` never sets
``raw`` (ollama/ollama ``openai/openai.go`` ``FromCompleteRequest``), so ``GenerateHandler``
(``server/routes.go``) renders the prompt through the model's template a second time. The
native ``/api/generate`` with ``"raw": true`` sends it as is, and Ollama's tokenizer adds the one
BOS (the prompt carries no ``<|begin_of_text|>`` text).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import httpx

from llamashield._exceptions import ConfigurationError
from llamashield._loop_local import LoopLocal
from llamashield._taxonomy import Taxonomy, taxonomy_named_by
from llamashield.backends._answers import checked_score
from llamashield.backends._base import (
    BackendAnswer,
    BackendError,
    Capabilities,
    GuardRequest,
)
from llamashield.backends._errors import status_error
from llamashield.backends._exchange import Call, Exchange, ExchangeBackend

__all__ = ["OllamaBackend"]

# Llama Guard 3 reads 128k tokens, but Ollama's default context is a few thousand, and it cuts
# a longer prompt from the front unless told not to: 8,192 holds llamashield's 16,000-character
# windows, and `truncate: false` turns an overflow into an error instead of a silent cut.
DEFAULT_NUM_CTX = 8192

_AGENT_ON_CHAT = (
    "OllamaBackend(mode='chat') lets Ollama's llama-guard3 template build the prompt, and it "
    "judges every conversation as a User turn (its last line says 'ONLY THE LAST User "
    "message'), so the Agent's answer cannot be judged this way: use the default "
    "mode='generate', which sends llamashield's prompt raw on /api/generate"
)


class OllamaBackend(ExchangeBackend):
    """Llama Guard served by Ollama (``ollama pull llama-guard3:8b``), through its native API.

    ``mode="generate"`` (default) sends llamashield's own prompt to ``/api/generate`` with
    ``"raw": true``: exact for every Llama Guard generation, both roles, custom categories and
    ``exclude_from_prompt``. ``mode="chat"`` sends the turns to ``/api/chat`` and lets the
    model's Ollama template build the prompt: only for User-turn checks with the template's
    fixed categories (an Agent-turn check is a ``ConfigurationError``; so are custom categories
    and ``exclude_from_prompt``, at ``LlamaGuard(...)``).

    Scores: Ollama 0.12.11 and later return logprobs (``logprobs=5`` asks for the top 5 at each
    token, and ``Verdict.score`` is P(unsafe) at the verdict token); older versions return none,
    and ``score`` is None. ``options`` go to Ollama as they are (``temperature`` 0,
    ``num_predict`` ``max_tokens`` and ``num_ctx`` 8192 unless given), ``keep_alive`` too.

    Example::

        backend = OllamaBackend("http://localhost:11434", model="llama-guard3:8b")
        guard = LlamaGuard(backend)
        guard.check([{"role": "user", "content": q}, {"role": "assistant", "content": a}])
    """

    def __init__(
        self,
        base_url: str = "http://localhost:11434",
        model: str = "llama-guard3:8b",
        *,
        mode: Literal["generate", "chat"] = "generate",
        taxonomy: Taxonomy | None = None,
        max_tokens: int = 20,
        logprobs: int | None = 5,
        keep_alive: str | float | None = None,
        options: Mapping[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if mode not in ("generate", "chat"):
            raise ValueError(f"mode must be 'generate' or 'chat', got {mode!r}")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if logprobs is not None and not 0 <= logprobs <= 20:
            raise ValueError("logprobs must be 0-20 (Ollama's top_logprobs range) or None")
        root = base_url.rstrip("/")
        if root.endswith(("/v1", "/api")):
            raise ValueError(
                f"base_url is Ollama's root (http://localhost:11434), not {base_url!r}: "
                "OllamaBackend calls /api/generate itself"
            )
        named = taxonomy or taxonomy_named_by(model)
        if named is None:
            raise ConfigurationError(
                f"model {model!r} names no Llama Guard generation (an Ollama tag or alias): "
                "pass taxonomy=, e.g. taxonomy=llamashield.LLAMA_GUARD_3 (llama-guard3:8b) or "
                "LLAMA_GUARD_3_1B (llama-guard3:1b)"
            )
        self.base_url = root
        self.model = model
        self.mode = mode
        self.taxonomy = named
        self.max_tokens = max_tokens
        self.logprobs = logprobs
        self.keep_alive = keep_alive
        self.options = {
            "temperature": 0,
            "num_predict": max_tokens,
            "num_ctx": DEFAULT_NUM_CTX,
            **(options or {}),
        }
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._client = httpx.Client(headers=self._headers)
        self._aclients = LoopLocal(lambda: httpx.AsyncClient(headers=self._headers))

    @property
    def capabilities(self) -> Capabilities:
        """Answers may carry P(unsafe) when logprobs are asked for (Ollama >= 0.12.11);
        llamashield's prompt (custom categories) reaches the model in generate mode only."""
        return Capabilities(
            gives_scores=bool(self.logprobs),
            sends_prompt=self.mode == "generate",
            score_hint="OllamaBackend(..., logprobs=5) on Ollama 0.12.11 or later",
            provider="ollama",
            cache_settings=("mode", self.mode, "logprobs", self.logprobs, "options", self.options),
        )

    def __repr__(self) -> str:
        where = f"base_url={self.base_url!r}, model={self.model!r}"
        return f"OllamaBackend({where}, mode={self.mode!r})"

    def _call(self, request: GuardRequest) -> Call:
        body: dict[str, Any] = {"model": self.model, "stream": False, "options": self.options}
        if self.keep_alive is not None:
            body["keep_alive"] = self.keep_alive
        if self.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = self.logprobs
        if self.mode == "chat":
            if request.role == "agent":
                raise ConfigurationError(_AGENT_ON_CHAT)
            body["messages"] = [
                {"role": "user" if t.role == "user" else "assistant", "content": t.content}
                for t in request.conversation
            ]
            return Call("POST", f"{self.base_url}/api/chat", body)
        # raw: the prompt as is, no template; no BOS text (Ollama's tokenizer adds the one BOS);
        # truncate false: a prompt over num_ctx is an error, never cut from the front.
        body.update(prompt=request.completion_prompt, raw=True, truncate=False)
        return Call("POST", f"{self.base_url}/api/generate", body)

    def _exchange(self, request: GuardRequest) -> Exchange[BackendAnswer]:
        reply = yield self._call(request)
        assert reply is not None  # a real request fails in the driver, never here
        return self._answer(reply)

    def _answer(self, response: httpx.Response) -> BackendAnswer:
        if response.status_code >= 400:
            raise self._status_error(response)
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BackendError("Ollama answered invalid JSON", kind="malformed") from None
        if not isinstance(body, dict):
            raise BackendError("Ollama answered something that is not an object", kind="malformed")
        if self.mode == "chat":
            message = body.get("message")
            text = message.get("content") if isinstance(message, dict) else None
        else:
            text = body.get("response")
        if not isinstance(text, str):
            raise BackendError("Ollama answered without text", kind="malformed")
        logprobs = body.get("logprobs")
        # Ollama's logprobs are OpenAI's chat ``content`` entries: {token, logprob, top_logprobs}.
        score, problem = (
            checked_score({"content": logprobs}) if isinstance(logprobs, list) else (None, None)
        )
        served = body.get("model")
        model = served if isinstance(served, str) and served else ""
        return BackendAnswer(text, score, model, problem=problem)

    def _status_error(self, response: httpx.Response) -> BackendError:
        try:
            detail = response.json().get("error", "")
        except (ValueError, AttributeError):
            detail = response.text
        detail = detail if isinstance(detail, str) else json.dumps(detail)
        if response.status_code == 404 and "not found" in detail and self.model in detail:
            return BackendError(
                f"Ollama at {self.base_url} has no model {self.model!r} (404): "
                f"run `ollama pull {self.model}`",
                status_code=404,
                kind="http",
            )
        return status_error(
            response.status_code,
            detail,
            model=self.model,
            service=self._service(),
            key_hint="Ollama has no API keys: check what sits in front of it",
            headers=response.headers,
            url=str(response.request.url) if response.request is not None else None,
        )

    def _service(self) -> str:
        return f"Ollama at {self.base_url}"
