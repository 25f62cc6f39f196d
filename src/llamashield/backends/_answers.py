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


def _logprob_values(logprobs: Any) -> list[Any]:
    """Every logprob value an answer carries, in the shapes ``verdict_score`` reads."""
    values: list[Any] = []
    content = _get(logprobs, "content")  # OpenAI chat: content[i].top_logprobs[{token, logprob}]
    for entry in content if isinstance(content, list) else []:
        values.append(_get(entry, "logprob"))
        entries = _get(entry, "top_logprobs")
        if isinstance(entries, list):
            values.extend(_get(e, "logprob") for e in entries)
    tops = _get(logprobs, "top_logprobs")  # completions: top_logprobs[i] = {token: logprob}
    for top in [tops] if isinstance(tops, dict) else tops if isinstance(tops, list) else []:
        if isinstance(top, dict):
            values.extend(top.values())
    token_logprobs = _get(logprobs, "token_logprobs")
    if isinstance(token_logprobs, list):
        values.extend(token_logprobs)
    return values


def _checked_score(logprobs: Any) -> tuple[float | None, str | None]:
    """``verdict_score``, or no score and why, when a logprob is not a log-probability.

    A NaN, a string or a positive "logprob" would otherwise become no score or a wrong one. The
    answer's text is kept either way: an ``unsafe`` stays unsafe whatever its logprobs say.
    """
    if logprobs is None:
        return None, None
    for value in _logprob_values(logprobs):
        if not (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (math.isfinite(value) or value == -math.inf)  # -inf: probability 0
            and value <= 1e-6  # a log-probability; rounding may give a hair above 0
        ):
            return None, f"guard answered logprob {value!r}"
    try:
        score = verdict_score(logprobs)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError):
        return None, "guard answered unreadable logprobs"
    if score is not None and not (math.isfinite(score) and 0.0 <= score <= 1.0):
        return None, f"guard answered score {score!r}"
    return score, None


checked_score = _checked_score  # for backends whose answers are not OpenAI-shaped (Ollama)


def answer_from_completion(body: Any, model: str, *, chat: bool) -> BackendAnswer:
    """``BackendAnswer`` from a chat or text completion (dict or SDK object).

    Raises a ``malformed`` ``BackendError`` for any reply that is not one: the error policy
    decides it, like an outage, instead of a ``KeyError`` escaping from here. Unreadable
    logprobs beside readable text are the answer's ``problem``, not an error: the text decides
    where it says ``unsafe``.
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
    usage = _get(body, "usage")
    score, problem = _checked_score(_get(choice, "logprobs"))
    return BackendAnswer(
        text,
        score,
        served if isinstance(served, str) and served else model,
        _count(_get(usage, "prompt_tokens")) if usage is not None else None,
        _count(_get(usage, "completion_tokens")) if usage is not None else None,
        problem=problem,
    )


def _count(value: Any) -> int | None:
    """A token count as reported, or None for anything that is not one (never an error: usage
    is only traced, it decides nothing)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
