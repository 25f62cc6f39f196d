"""What the loopback server answers: Together/OpenAI chat and text completions. Pure.

Guard models (any id containing "guard") answer with the simulator's keyword rules in their
taxonomy; other models echo the last user message, or play canned replies, so the same server
can stand in for the LLM a pipeline guards.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from llamashield._conversation import normalize_conversation
from llamashield._prompts import parse_prompt
from llamashield._taxonomy import Taxonomy, taxonomy_for_model
from llamashield.backends._rules import simulate_answer
from llamashield.testing._images import image_answer

Reply = Callable[[list[dict[str, Any]]], str]


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: list[str] | None = None  # SSE data payloads, sent one by one
    raw: bytes | None = None  # a file's bytes (application/octet-stream) instead of JSON
    ndjson: list[str] | None = None  # JSON lines, streamed as application/x-ndjson (Ollama)
    text: str | None = None  # text/plain instead of JSON (Ollama's "Ollama is running")


def is_guard_model(model: str) -> bool:
    return "guard" in model.lower()


def _completion_id() -> str:
    return f"loopback-{time.monotonic_ns()}"


def _logprobs(answer: str, score: float, chat: bool) -> dict[str, Any]:
    first = answer.split("\n", 1)[0]
    top = {"safe": math.log(1.0 - score), "unsafe": math.log(score)}
    if chat:
        entries = [{"token": t, "logprob": lp} for t, lp in top.items()]
        return {
            "content": [{"token": first, "logprob": top[first], "top_logprobs": entries}],
            "tokens": [first],
            "token_logprobs": [top[first]],
            "top_logprobs": [top],
        }
    return {"tokens": [first], "token_logprobs": [top[first]], "top_logprobs": [top]}


def _prompt_taxonomy(prompt: str, model: str) -> tuple[Any, Taxonomy]:
    turns, categories = parse_prompt(prompt)
    base = taxonomy_for_model(model)
    if "<|start_header_id|>" in prompt and base.generation != 3:
        base = taxonomy_for_model("llama-guard-3")
    elif "<|header_start|>" in prompt and base.generation != 4:
        base = taxonomy_for_model("llama-guard-4")
    listed = tuple((c.code, c.name) for c in categories)
    known = tuple((c.code, c.name) for c in base)
    if listed == known:
        return turns, base
    if listed and set(listed) < set(known):  # exclude_from_prompt: the model's own, trimmed
        kept = {code for code, _ in listed}
        return turns, base.excluding(c for c in base.codes if c not in kept)
    return turns, base.with_categories(categories)


class Responder:
    """Builds responses; ``reply`` overrides what non-guard models say."""

    def __init__(self, reply: Reply | list[str] | None = None, chunk_chars: int = 12) -> None:
        if isinstance(reply, list):
            cycle = itertools.cycle(reply)
            self.reply: Reply = lambda _messages: next(cycle)
        else:
            self.reply = reply or _echo
        self.chunk_chars = chunk_chars

    def handle(self, path: str, body: dict[str, Any], malformed: bool = False) -> Response:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _error(400, "model is required")
        if path.endswith("/chat/completions"):
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                return _error(400, "messages must be a non-empty list")
            text, score = self._chat_text(model, messages, malformed)
            return self._chat_response(model, text, score, body)
        if path.endswith("/completions"):
            prompt = body.get("prompt")
            # OpenAI's protocol takes one prompt or a batch (LangChain's completion LLMs send a
            # list of one): each prompt gets its own choice, in order.
            prompts = [prompt] if isinstance(prompt, str) else prompt
            if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
                return _error(400, "prompt must be a string or a list of strings")
            choices: list[dict[str, Any]] = []
            for index, one in enumerate(prompts):
                text, score = self._prompt_text(model, one, malformed)
                choice: dict[str, Any] = {"index": index, "text": text, "finish_reason": "stop"}
                if body.get("logprobs") and score is not None:
                    choice["logprobs"] = _logprobs(text, score, chat=False)
                choices.append(choice)
            return Response(body=_envelope("text_completion", model, choices))
        return _error(404, f"no route {path}")

    def _chat_text(
        self, model: str, messages: list[dict[str, Any]], malformed: bool
    ) -> tuple[str, float | None]:
        if not is_guard_model(model):
            return self.reply(messages), None
        if malformed:
            return "I'm sorry, I can't assess that.", None
        taxonomy = taxonomy_for_model(model)
        try:
            turns = normalize_conversation(messages)
            text, score = simulate_answer(turns[-1].content, taxonomy)
            seen = image_answer(model, messages, taxonomy, text)
        except (TypeError, ValueError) as exc:
            raise _BadRequest(str(exc)) from None
        if seen is None or seen == text:
            return text, score
        return seen, 0.97

    def _prompt_text(self, model: str, prompt: str, malformed: bool) -> tuple[str, float | None]:
        if not is_guard_model(model):
            return self.reply([{"role": "user", "content": prompt}]), None
        if malformed:
            return "unsafe\nS999", None
        try:
            turns, taxonomy = _prompt_taxonomy(prompt, model)
        except ValueError as exc:
            raise _BadRequest(f"not a Llama Guard prompt: {exc}") from None
        return simulate_answer(turns[-1].content, taxonomy)

    def _chat_response(
        self, model: str, text: str, score: float | None, body: dict[str, Any]
    ) -> Response:
        if body.get("stream"):
            return Response(stream=list(self._sse_chunks(model, text)))
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
        }
        if body.get("logprobs") and score is not None:
            choice["logprobs"] = _logprobs(text, score, chat=True)
        return Response(body=_envelope("chat.completion", model, [choice]))

    def _sse_chunks(self, model: str, text: str) -> Iterator[str]:
        cid = _completion_id()
        pieces = [text[i : i + self.chunk_chars] for i in range(0, len(text), self.chunk_chars)]
        for piece in pieces or [""]:
            delta = {"index": 0, "delta": {"role": "assistant", "content": piece}}
            yield json.dumps(_envelope("chat.completion.chunk", model, [delta], cid))
        done = {"index": 0, "delta": {}, "finish_reason": "stop"}
        yield json.dumps(_envelope("chat.completion.chunk", model, [done], cid))
        yield "[DONE]"


class _BadRequest(Exception):
    pass


def bad_request(exc: Exception) -> Response:
    return _error(400, str(exc))


BadRequest = _BadRequest


def _echo(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return f"You said: {message.get('content', '')}"
    return "Hello from the loopback server."


def _envelope(obj: str, model: str, choices: list[dict[str, Any]], cid: str = "") -> dict[str, Any]:
    return {
        "id": cid or _completion_id(),
        "object": obj,
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def _error(status: int, message: str) -> Response:
    return Response(status, {"error": {"message": message, "type": "invalid_request_error"}})
