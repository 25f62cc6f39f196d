"""Read the text and score out of OpenAI-shaped JSON answers (Together's and vLLM's alike)."""

from __future__ import annotations

from typing import Any

from llamashield._scores import verdict_score
from llamashield.backends._base import BackendAnswer, BackendError


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


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
        verdict_score(_get(choice, "logprobs")),
        served if isinstance(served, str) and served else model,
    )
