"""P(unsafe) from a served answer's logprobs, read at the verdict token. Pure, no I/O.

Meta's model cards define the score as the probability of ``unsafe`` as the first token of the
verdict. That is the first generated token only when the prompt ends where the model starts
its verdict; a server may still emit whitespace first (a Llama Guard 3/4 prompt that stops
before the assistant header's ``\\n\\n``, a model that opens with a space). So the score is read
at the first token that is not whitespace, in every shape servers return:

* OpenAI chat: ``{"content": [{"token", "logprob", "top_logprobs": [{"token", "logprob"}]}]}``
* completions (vLLM, Together, OpenAI legacy): ``{"tokens": [...], "token_logprobs": [...],
  "top_logprobs": [{token: logprob}, ...]}``

When the top list names both verdict words, the score is ``P(unsafe) / (P(safe) + P(unsafe))``
over the bare and space-prefixed forms together. When it names only one (a server that returns
one entry, or none: the sampled token's own logprob is then used), the score is that word's own
probability: ``p`` for ``unsafe``, ``1 - p`` for ``safe``.

Example::

    >>> round(verdict_score({"tokens": ["\\n\\n", "unsafe"], "token_logprobs": [0.0, -0.1],
    ...     "top_logprobs": [{"\\n\\n": 0.0}, {"unsafe": -0.1, "safe": -2.4}]}), 3)
    0.909
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TokenLogprobs", "score_at", "verdict_position", "verdict_score"]

# Byte-level BPE spellings some servers return instead of decoded text ("ĠĠ", "ĊĊ").
_BYTE_LEVEL = str.maketrans({"Ġ": " ", "Ċ": "\n", "ĉ": "\t"})


@dataclass(frozen=True, slots=True)
class TokenLogprobs:
    """One generated position: the sampled token, its logprob, and the top alternatives."""

    token: str | None
    logprob: float | None
    top: Mapping[str, float] = field(default_factory=dict)


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _top_entries(top: Any) -> dict[str, float]:
    """``{token: logprob}`` from a dict, or from a list of ``{token, logprob}`` entries."""
    pairs: dict[str, float] = {}
    if isinstance(top, Mapping):
        items: list[tuple[Any, Any]] = list(top.items())
    elif isinstance(top, list):
        items = [(_get(e, "token"), _get(e, "logprob")) for e in top]
    else:
        return pairs
    for token, logprob in items:
        number = _number(logprob)
        if isinstance(token, str) and number is not None:
            pairs[token] = number
    return pairs


def _positions(logprobs: Any) -> Iterator[TokenLogprobs]:
    content = _get(logprobs, "content")
    if isinstance(content, list) and content:
        for entry in content:
            token = _get(entry, "token")
            yield TokenLogprobs(
                token if isinstance(token, str) else None,
                _number(_get(entry, "logprob")),
                _top_entries(_get(entry, "top_logprobs")),
            )
        return
    tokens = _get(logprobs, "tokens")
    token_logprobs = _get(logprobs, "token_logprobs")
    tops = _get(logprobs, "top_logprobs")
    if isinstance(tops, Mapping):  # a single position's top list
        tops = [tops]
    tokens = tokens if isinstance(tokens, list) else []
    token_logprobs = token_logprobs if isinstance(token_logprobs, list) else []
    tops = tops if isinstance(tops, list) else []
    for i in range(max(len(tokens), len(tops))):
        top = _top_entries(tops[i]) if i < len(tops) else {}
        token = tokens[i] if i < len(tokens) else None
        if not isinstance(token, str):  # no sampled token given: the top list's best
            token = max(top, key=top.__getitem__) if top else None
        logprob = _number(token_logprobs[i]) if i < len(token_logprobs) else None
        yield TokenLogprobs(token, logprob, top)


def _word(token: str) -> str:
    return token.translate(_BYTE_LEVEL).strip().lower()


def verdict_position(logprobs: Any) -> TokenLogprobs | None:
    """The first generated position whose token is not whitespace."""
    if logprobs is None:
        return None
    for position in _positions(logprobs):
        if position.token is None or _word(position.token):
            return position
    return None


def score_at(position: TokenLogprobs) -> float | None:
    """P(unsafe) at one position (see the module's docstring), or None without a verdict word."""
    mass = {"safe": 0.0, "unsafe": 0.0}
    for token, logprob in position.top.items():
        word = _word(token)
        if word in mass:
            mass[word] += math.exp(logprob)
    if position.token is not None and position.logprob is not None:
        word = _word(position.token)
        if word in mass and position.token not in position.top:
            mass[word] += math.exp(position.logprob)  # the sampled token, when the list lacks it
    safe, unsafe = mass["safe"], mass["unsafe"]
    if safe > 0.0 and unsafe > 0.0:
        score = unsafe / (safe + unsafe)
    elif unsafe > 0.0:
        score = unsafe
    elif safe > 0.0:
        score = 1.0 - safe
    else:
        return None
    return min(max(score, 0.0), 1.0) if math.isfinite(score) else None


def verdict_score(logprobs: Any) -> float | None:
    """P(unsafe) read at the verdict token of an answer's logprobs (any server's shape)."""
    position = verdict_position(logprobs)
    return None if position is None else score_at(position)
