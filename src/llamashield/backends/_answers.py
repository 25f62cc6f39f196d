"""Read the text and score out of OpenAI-shaped JSON answers (Together's and vLLM's alike)."""

from __future__ import annotations

import math
from typing import Any

from llamashield._parser import score_from_logprobs
from llamashield.backends._base import BackendAnswer, BackendError


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def first_token_score(logprobs: Any) -> float | None:
    """P(unsafe) from an answer's logprobs, in any of the shapes servers return."""
    if logprobs is None:
        return None
    top = _get(logprobs, "top_logprobs")
    if isinstance(top, list):
        top = top[0] if top else None
    if isinstance(top, dict) and top:
        return score_from_logprobs(top)
    content = _get(logprobs, "content")  # OpenAI chat: content[0].top_logprobs[{token, logprob}]
    if isinstance(content, list) and content:
        entries = _get(content[0], "top_logprobs") or []
        pairs = {str(_get(e, "token")): float(_get(e, "logprob")) for e in entries}
        if pairs:
            return score_from_logprobs(pairs)
    tokens, token_logprobs = _get(logprobs, "tokens"), _get(logprobs, "token_logprobs")
    if tokens and token_logprobs:
        first = str(tokens[0]).strip().lower()
        p = math.exp(float(token_logprobs[0]))
        if first == "unsafe":
            return min(p, 1.0)
        if first == "safe":
            return max(1.0 - p, 0.0)
    return None


def answer_from_completion(body: Any, model: str, *, chat: bool) -> BackendAnswer:
    """``BackendAnswer`` from a chat or text completion (dict or SDK object)."""
    choices = _get(body, "choices")
    if not choices:
        raise BackendError("guard answered without choices", kind="malformed")
    choice = choices[0]
    if chat:
        message = _get(choice, "message")
        text = _get(message, "content") if message is not None else None
    else:
        text = _get(choice, "text")
    if not isinstance(text, str):
        raise BackendError("guard answered without text", kind="malformed")
    served = _get(body, "model")
    return BackendAnswer(
        text,
        first_token_score(_get(choice, "logprobs")),
        served if isinstance(served, str) and served else model,
    )
