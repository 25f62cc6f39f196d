"""Read the text and score out of OpenAI-shaped JSON answers (Together's and vLLM's alike)."""

from __future__ import annotations

import math
from typing import Any

from llamashield._scores import verdict_score
from llamashield.backends._base import BackendAnswer, BackendError


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _first_token_values(logprobs: Any) -> list[Any]:
    """The first token's logprob values, in every shape servers return them."""
    values: list[Any] = []
    top = _get(logprobs, "top_logprobs")
    if isinstance(top, list) and top:
        top = top[0]
    if isinstance(top, dict):
        values.extend(top.values())
    content = _get(logprobs, "content")
    if isinstance(content, list) and content:
        values.append(_get(content[0], "logprob"))
        entries = _get(content[0], "top_logprobs")
        if isinstance(entries, list):
            values.extend(_get(e, "logprob") for e in entries)
    token_logprobs = _get(logprobs, "token_logprobs")
    if isinstance(token_logprobs, list) and token_logprobs:
        values.append(token_logprobs[0])
    return values


def _checked_score(logprobs: Any) -> float | None:
    """``verdict_score``, or a ``malformed`` error when a logprob is not a log-probability.

    A NaN, a string or a positive "logprob" would otherwise become no score or a wrong one.
    """
    if logprobs is None:
        return None
    for value in _first_token_values(logprobs):
        if not (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value <= 1e-6  # a log-probability; rounding may give a hair above 0
        ):
            raise BackendError(f"guard answered logprob {value!r}", kind="malformed")
    try:
        score = verdict_score(logprobs)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError):
        raise BackendError("guard answered unreadable logprobs", kind="malformed") from None
    if score is not None and not (math.isfinite(score) and 0.0 <= score <= 1.0):
        raise BackendError(f"guard answered score {score!r}", kind="malformed")
    return score


def answer_from_completion(body: Any, model: str, *, chat: bool) -> BackendAnswer:
    """``BackendAnswer`` from a chat or text completion (dict or SDK object).

    Raises a ``malformed`` ``BackendError`` for any reply that is not one: the error policy
    decides it, like an outage, instead of a ``KeyError`` escaping from here.
    """
    choices = _get(body, "choices")
    if not isinstance(choices, list) or not choices:
        raise BackendError("guard answered without a list of choices", kind="malformed")
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
        _checked_score(_get(choice, "logprobs")),
        served if isinstance(served, str) and served else model,
    )
