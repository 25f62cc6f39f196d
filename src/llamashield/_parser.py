"""Read a Llama Guard answer (``safe`` / ``unsafe\\nS1,S9``). Pure; fails closed.

Anything that is not exactly a verdict (an empty answer, ``unsafe`` with an unknown code, prose)
comes back as ``ParsedAnswer(unsafe=True, error=...)``: unreadable is never safe. ``said_unsafe``
records that the first line was ``unsafe``: the model's word, which no error policy overrules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from llamashield._taxonomy import Category, Taxonomy

__all__ = ["ParsedAnswer", "parse_answer", "score_from_logprobs"]

_CODE = re.compile(r"^[A-Z]\d{1,3}$")


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    unsafe: bool
    categories: tuple[Category, ...] = ()
    error: str | None = None
    said_unsafe: bool = False


def parse_answer(raw: object, taxonomy: Taxonomy) -> ParsedAnswer:
    """Parse the model's text; an unreadable answer is unsafe with ``error`` set."""
    if not isinstance(raw, str):
        return ParsedAnswer(True, error=f"guard answered {type(raw).__name__}, not text")
    # Llama Guard 3/4 emit "\n\n" first; servers may keep an EOS marker.
    text = raw.replace("<|eot_id|>", "").replace("<|eot|>", "").replace("</s>", "").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ParsedAnswer(True, error="guard returned an empty answer")
    head = lines[0].lower()
    if head == "safe":
        if len(lines) > 1:
            return ParsedAnswer(True, error=f"unexpected text after 'safe': {_clip(lines[1])}")
        return ParsedAnswer(False)
    if head != "unsafe":
        return ParsedAnswer(True, error=f"not a Llama Guard verdict: {_clip(text)}")
    if len(lines) == 1:
        # Llama Guard sometimes omits the code line; the verdict is still unsafe.
        return ParsedAnswer(True, said_unsafe=True)
    if len(lines) > 2:
        error = f"unexpected text after the categories: {_clip(lines[2])}"
        return ParsedAnswer(True, error=error, said_unsafe=True)
    categories: list[Category] = []
    for token in lines[1].replace(" ", "").split(","):
        code = token.upper()
        if not _CODE.match(code) or code not in taxonomy:
            return ParsedAnswer(
                True,
                tuple(categories),
                error=f"unknown category {_clip(token)!s} for Llama Guard {taxonomy.generation}",
                said_unsafe=True,
            )
        category = taxonomy[code]
        if category not in categories:
            categories.append(category)
    return ParsedAnswer(True, tuple(categories), said_unsafe=True)


def score_from_logprobs(top_logprobs: Mapping[str, float]) -> float | None:
    """P(unsafe) over the safe/unsafe first tokens, bare and space-prefixed forms together."""
    safe = unsafe = 0.0
    for token, logprob in top_logprobs.items():
        word = token.strip().lower()
        if word == "safe":
            safe += math.exp(logprob)
        elif word == "unsafe":
            unsafe += math.exp(logprob)
    total = safe + unsafe
    if total <= 0.0 or not math.isfinite(total):
        return None
    return unsafe / total


def _clip(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
