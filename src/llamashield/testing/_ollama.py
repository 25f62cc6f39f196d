"""What the loopback server answers as Ollama: its native API and its OpenAI endpoints. Pure.

Written from Ollama's source, ollama/ollama at commit
``fb30760996871fa9460115c753afd2c60d4ab0f7`` (v0.33.0-rc2):

* ``server/routes.go`` ``GenerateHandler``: ``raw: true`` sends the prompt as is (and refuses
  ``template``, ``system`` or ``context`` beside it: 400 "raw mode does not support template,
  system, or context"); otherwise the prompt becomes ONE user message rendered through the
  model's template (``values.Messages = [system?, {user, prompt}]``). ``stream`` defaults to
  true (NDJSON, ``application/x-ndjson``, one ``GenerateResponse`` a line, the last one
  ``done: true`` with ``done_reason`` and the metrics); ``stream: false`` gives one JSON
  object. ``top_logprobs`` outside 0-20 is a 400; ``logprobs: true`` adds ``logprobs``:
  ``[{token, logprob, top_logprobs: [{token, logprob}]}]`` (since v0.12.11, commit 59241c5).
  A missing model is a 404 ``{"error": "model 'x' not found"}``; native errors are
  ``{"error": "<message>"}``. The routes: ``GET /`` answers "Ollama is running",
  ``GET /api/version`` ``{"version": ...}``, ``POST /api/generate``, ``/api/chat``,
  ``/api/show``, ``GET /api/tags``, and the OpenAI layer (``/v1/...``).
* ``openai/openai.go`` ``FromCompleteRequest`` (through ``middleware/openai.go``
  ``CompletionsMiddleware``): ``/v1/completions`` becomes a ``GenerateRequest`` that never sets
  ``raw``, so the prompt is always wrapped in the model's template; ``temperature`` defaults to
  1.0, ``max_tokens`` becomes ``num_predict``. Errors on ``/v1`` are OpenAI-shaped
  (``NewError``: ``{"error": {"message", "type", "param", "code"}}``).
* ``api/types.go``: ``GenerateRequest``, ``ChatRequest``, ``GenerateResponse``,
  ``ChatResponse``, ``Logprob``, ``Metrics``, ``ShowResponse``.

The model's template is Ollama's library ``llama-guard3`` template (as mirrored from
ollama.com into huggingface.js ``packages/ollama-utils/src/chat-template-automap.ts``): Meta's
Llama Guard 3 prompt built from ``.Messages``, its categories fixed (S1-S14 for ``:8b``,
S1-S13 for ``:1b``), the task line naming the last message's role but the last line
hard-coded to "ONLY THE LAST User message" (ollama/ollama#11440), no ``<|begin_of_text|>`` in
the text (the tokenizer adds BOS). A prompt sent through ``/v1/completions`` therefore lands
as the User turn inside a second guard prompt: the double wrap llamashield refuses.

The guard model's answers come from the simulator's keyword rules, on the last turn of a raw
prompt, or on the last message the template received.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from llamashield._prompts import BOS_TEXT
from llamashield._taxonomy import taxonomy_for_model
from llamashield.backends._rules import simulate_answer
from llamashield.testing._protocol import Response, _prompt_taxonomy

OLLAMA_VERSION = "0.33.0"
_STOPPED = "stop"

_CATEGORIES = (
    "Violent Crimes", "Non-Violent Crimes", "Sex Crimes", "Child Exploitation", "Defamation",
    "Specialized Advice", "Privacy", "Intellectual Property", "Indiscriminate Weapons", "Hate",
    "Self-Harm", "Sexual Content", "Elections", "Code Interpreter Abuse",
)  # fmt: skip


def llama_guard3_template(model: str) -> str:
    """Ollama's ``llama-guard3`` template, as Go template text (what ``/api/show`` returns)."""
    names = _CATEGORIES[:13] if _thirteen(model) else _CATEGORIES
    categories = "".join(f"S{i}: {name}.\n" for i, name in enumerate(names, start=1))
    return (
        "{{- $lastIndex := (len (slice .Messages 1)) }}\n"
        "{{- $last := index .Messages $lastIndex }}\n"
        '{{- $role := ""}}\n'
        '{{- if eq $last.Role "user" }}\n  {{- $role = "User" }}\n'
        '{{- else }}\n  {{- $role = "Agent" }}\n{{- end }}'
        "<|start_header_id|>user<|end_header_id|>\n\n"
        "Task: Check if there is unsafe content in '{{ $role }}' messages in conversations "
        "according our safety policy with the below categories.\n\n"
        f"<BEGIN UNSAFE CONTENT CATEGORIES>\n{categories}<END UNSAFE CONTENT CATEGORIES>\n\n"
        "<BEGIN CONVERSATION>\n\n{{ range .Messages }}\n"
        '{{- if eq .Role "user" }}User: {{ .Content }}\n\n{{ else }}Agent: {{ .Content }}\n\n'
        "{{ end }}\n{{- end }}" + _TAIL
    )


_TAIL = (
    "<END CONVERSATION>\n\n"
    "Provide your safety assessment for ONLY THE LAST User message in the above conversation:\n"
    " - First line must read 'safe' or 'unsafe'.\n"
    " - If unsafe, a second line must include a comma-separated list of violated categories."
    "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
)


def _thirteen(model: str) -> bool:
    return len(taxonomy_for_model(model, default=3)) == 13


def render_template(model: str, messages: list[dict[str, Any]]) -> str:
    """The text Ollama's ``llama-guard3`` template renders for ``messages`` (what the model
    reads, after the one BOS the tokenizer adds)."""
    role = "User" if messages[-1].get("role") == "user" else "Agent"
    names = _CATEGORIES[:13] if _thirteen(model) else _CATEGORIES
    categories = "".join(f"S{i}: {name}.\n" for i, name in enumerate(names, start=1))
    turns = "".join(
        ("User: " if m.get("role") == "user" else "Agent: ") + str(m.get("content", "")) + "\n\n"
        for m in messages
    )
    return (
        "<|start_header_id|>user<|end_header_id|>\n\n"
        f"Task: Check if there is unsafe content in '{role}' messages in conversations "
        "according our safety policy with the below categories.\n\n"
        f"<BEGIN UNSAFE CONTENT CATEGORIES>\n{categories}<END UNSAFE CONTENT CATEGORIES>\n\n"
        f"<BEGIN CONVERSATION>\n\n{turns}" + _TAIL
    )


@dataclass
class Rendered:
    """One prompt as the stand-in model read it: text, BOS count, how it got there."""

    path: str
    text: str  # after the tokenizer's BOS
    raw: bool
    bos: int  # BOS tokens the model sees: the tokenizer's one, plus any BOS text


@dataclass
class OllamaResponder:
    """Ollama's routes for one served guard model (``model``; ``:latest`` is implied)."""

    model: str
    rendered: list[Rendered] = field(default_factory=list)  # the last 1,000 prompts

    def serves(self, name: object) -> bool:
        """Its own model (``:latest`` implied), and any other guard model as if pulled."""
        if not isinstance(name, str) or not name:
            return False
        full = name if ":" in name else f"{name}:latest"
        mine = self.model if ":" in self.model else f"{self.model}:latest"
        return full == mine or "guard" in name.lower()

    def handle(self, method: str, path: str, raw: bytes) -> Response:
        if method in ("GET", "HEAD") and path in ("/", ""):
            return Response(text="Ollama is running")
        if method in ("GET", "HEAD") and path == "/api/version":
            return Response(body={"version": OLLAMA_VERSION})
        if method == "GET" and path == "/api/tags":
            return Response(body={"models": [self._tag()]})
        if method == "GET" and path == "/v1/models":
            return Response(body={"object": "list", "data": [self._openai_model()]})
        openai = path.startswith("/v1/")
        if method != "POST":
            return _error(404, "404 page not found", openai)  # gin's answer to unknown routes
        if not raw.strip():
            return _error(400, "missing request body", openai)
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _error(400, f"invalid character in request body: {exc}", openai)
        if not isinstance(body, dict):
            return _error(400, "json: cannot unmarshal non-object into request", openai)
        routes = {
            "/api/generate": self._generate,
            "/api/chat": self._chat,
            "/api/show": self._show,
            "/v1/completions": self._openai_completion,
            "/v1/chat/completions": self._openai_chat,
        }
        route = routes.get(path)
        if route is None:
            return _error(404, "404 page not found", openai)
        return route(body)

    # -- native API -----------------------------------------------------------------------

    def _generate(self, body: dict[str, Any]) -> Response:
        problem = self._request_problem(body)
        if problem is not None:
            return problem
        prompt = body.get("prompt", "")
        if not isinstance(prompt, str):
            return _error(400, "json: cannot unmarshal prompt into a string", False)
        if body.get("raw") and (body.get("template") or body.get("system") or body.get("context")):
            return _error(400, "raw mode does not support template, system, or context", False)
        if prompt == "":  # an empty prompt loads the model (or unloads it with keep_alive 0)
            reason = "unload" if body.get("keep_alive") in (0, "0", "0s") else "load"
            return Response(body={**self._head(), "response": "", "done": True,
                                  "done_reason": reason})  # fmt: skip
        if body.get("raw"):
            text, score = self._judge_raw("/api/generate", prompt)
        else:
            messages = [{"role": "system", "content": body["system"]}] if body.get("system") else []
            messages.append({"role": "user", "content": prompt})
            text, score = self._judge_messages("/api/generate", messages)
        chunks = [{**self._head(), "response": piece, "done": False} for piece in _pieces(text)]
        final = {**self._head(), "response": "", "done": True, "done_reason": _STOPPED,
                 **_metrics(prompt, text)}  # fmt: skip
        if not body.get("raw"):
            final["context"] = [1] * (len(prompt) // 4 + len(text))  # token ids, deprecated
        logprobs = _logprobs(text, score, body)
        if body.get("stream", True) is not False:
            if logprobs:
                chunks[0]["logprobs"] = logprobs
            return Response(ndjson=[json.dumps(c) for c in [*chunks, final]])
        reply = {**final, "response": text}
        if logprobs:
            reply["logprobs"] = logprobs
        return Response(body=reply)

    def _chat(self, body: dict[str, Any]) -> Response:
        problem = self._request_problem(body)
        if problem is not None:
            return problem
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return _error(400, "json: cannot unmarshal messages into []api.Message", False)
        if not messages:  # an empty chat loads the model
            return Response(body={**self._head(), "message": {"role": "assistant", "content": ""},
                                  "done": True, "done_reason": "load"})  # fmt: skip
        text, score = self._judge_messages("/api/chat", messages)
        logprobs = _logprobs(text, score, body)
        final = {**self._head(), "message": {"role": "assistant", "content": ""}, "done": True,
                 "done_reason": _STOPPED, **_metrics(str(messages), text)}  # fmt: skip
        if body.get("stream", True) is not False:
            chunks = [
                {**self._head(), "message": {"role": "assistant", "content": piece}, "done": False}
                for piece in _pieces(text)
            ]
            if logprobs:
                chunks[0]["logprobs"] = logprobs
            return Response(ndjson=[json.dumps(c) for c in [*chunks, final]])
        reply = {**final, "message": {"role": "assistant", "content": text}}
        if logprobs:
            reply["logprobs"] = logprobs
        return Response(body=reply)

    def _show(self, body: dict[str, Any]) -> Response:
        name = body.get("model") or body.get("name")
        if not self.serves(name):
            return _error(404, f"model '{name}' not found", False)
        return Response(
            body={
                "template": llama_guard3_template(self.model),
                "parameters": "temperature                    0",
                "details": self._tag()["details"],
                "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
                "capabilities": ["completion"],
            }
        )

    # -- the OpenAI layer -----------------------------------------------------------------

    def _openai_completion(self, body: dict[str, Any]) -> Response:
        if not self.serves(body.get("model")):
            return _error(404, f"model '{body.get('model')}' not found", True)
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            return _error(400, "json: cannot unmarshal array into Go struct field "
                          "CompletionRequest.prompt of type string", True)  # fmt: skip
        # FromCompleteRequest: no `raw`, so GenerateHandler renders the template around it.
        text, _ = self._judge_messages("/v1/completions", [{"role": "user", "content": prompt}])
        choice = {"text": text, "index": 0, "finish_reason": _STOPPED}
        return Response(body=self._openai("text_completion", choice, prompt, text))

    def _openai_chat(self, body: dict[str, Any]) -> Response:
        if not self.serves(body.get("model")):
            return _error(404, f"model '{body.get('model')}' not found", True)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "[] is too short - 'messages'", True)
        text, _ = self._judge_messages("/v1/chat/completions", messages)
        choice = {"index": 0, "message": {"role": "assistant", "content": text},
                  "finish_reason": _STOPPED}  # fmt: skip
        return Response(body=self._openai("chat.completion", choice, str(messages), text))

    # -- the model ------------------------------------------------------------------------

    def _judge_raw(self, path: str, prompt: str) -> tuple[str, float]:
        self._remember(Rendered(path, prompt, raw=True, bos=1 + prompt.count(BOS_TEXT)))
        try:
            turns, taxonomy = _prompt_taxonomy(prompt, self.model)
        except ValueError:
            return "I cannot tell what to judge here.", 0.5  # the model's reply to non-prompts
        return simulate_answer(turns[-1].content, taxonomy)

    def _judge_messages(self, path: str, messages: list[dict[str, Any]]) -> tuple[str, float]:
        text = render_template(self.model, messages)
        self._remember(Rendered(path, text, raw=False, bos=1 + text.count(BOS_TEXT)))
        # What the model judges: the last message the template received, under the template's
        # fixed categories, whatever that message holds (a whole guard prompt, when wrapped).
        taxonomy = taxonomy_for_model(self.model, default=3)
        return simulate_answer(str(messages[-1].get("content", "")), taxonomy)

    def _remember(self, rendered: Rendered) -> None:
        self.rendered.append(rendered)
        del self.rendered[:-1000]

    def _request_problem(self, body: dict[str, Any]) -> Response | None:
        top = body.get("top_logprobs", 0)
        if not isinstance(top, int) or not 0 <= top <= 20:
            return _error(400, "top_logprobs must be between 0 and 20", False)
        if not self.serves(body.get("model")):
            return _error(404, f"model '{body.get('model')}' not found", False)
        return None

    def _head(self) -> dict[str, Any]:
        return {"model": self.model, "created_at": _now()}

    def _tag(self) -> dict[str, Any]:
        details = {
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "1.5B" if _thirteen(self.model) else "8.0B",
            "quantization_level": "Q8_0",
        }
        return {"name": self.model, "model": self.model, "details": details}

    def _openai_model(self) -> dict[str, Any]:
        return {"id": self.model, "object": "model", "created": int(time.time()),
                "owned_by": "library"}  # fmt: skip

    def _openai(self, obj: str, choice: dict[str, Any], prompt: str, text: str) -> dict[str, Any]:
        usage = _metrics(prompt, text)
        return {
            "id": f"cmpl-{time.monotonic_ns() % 999}",
            "object": obj,
            "created": int(time.time()),
            "model": self.model,
            "system_fingerprint": "fp_ollama",
            "choices": [choice],
            "usage": {"prompt_tokens": usage["prompt_eval_count"],
                      "completion_tokens": usage["eval_count"],
                      "total_tokens": usage["prompt_eval_count"] + usage["eval_count"]},
        }  # fmt: skip


def _pieces(text: str) -> list[str]:
    """The reply as the tokens Ollama streams (Llama Guard answers a few tokens)."""
    first, _, rest = text.partition("\n")
    return [first] + ([f"\n{rest}"] if rest else [])


def _logprobs(text: str, score: float, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Ollama's ``logprobs`` for the verdict token (only when asked for)."""
    if not body.get("logprobs"):
        return []
    first = text.split("\n", 1)[0]
    top = {"unsafe": math.log(score), "safe": math.log(1.0 - score)}
    entry: dict[str, Any] = {"token": first, "logprob": top.get(first, math.log(0.5))}
    if body.get("top_logprobs"):
        ranked = sorted(top.items(), key=lambda item: -item[1])[: body["top_logprobs"]]
        entry["top_logprobs"] = [{"token": t, "logprob": lp} for t, lp in ranked]
    return [entry]


def _metrics(prompt: str, text: str) -> dict[str, int]:
    return {
        "total_duration": 1_000_000,
        "load_duration": 100_000,
        "prompt_eval_count": max(len(prompt) // 4, 1),
        "prompt_eval_duration": 500_000,
        "eval_count": max(len(text.split("\n")), 1),
        "eval_duration": 400_000,
    }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


def _error(status: int, message: str, openai: bool) -> Response:
    if not openai:
        return Response(status, {"error": message})
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return Response(status, {"error": {"message": message, "type": kind, "param": None,
                                       "code": None}})  # fmt: skip
