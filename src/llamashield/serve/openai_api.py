"""OpenAI's moderation API on a Llama Guard verdict: the request read, the result written.

``input`` is a string, a list of strings (one result each), or a list of multi-modal parts
(``{"type": "text", "text": ...}``, ``{"type": "image_url", "image_url": {"url": ...}}``), which
is one input, judged as one user message, as OpenAI does. Each result carries OpenAI's fields
(``flagged``, ``categories``, ``category_scores``, ``category_applied_input_types``) and, under
``llama_guard``, the verdict as Llama Guard gave it: codes, names, score, the raw answer.
"""

from __future__ import annotations

from typing import Any

from llamashield._verdict import Verdict
from llamashield.serve.errors import ApiError
from llamashield.serve.openai_categories import OPENAI_CATEGORIES, openai_names

__all__ = ["moderation_result", "read_inputs"]

# What each category's score applies to, as OpenAI's API lists it: a category takes images
# only where OpenAI's own model reads them for it.
_IMAGE_CATEGORIES = frozenset(
    {"self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "violence",
     "violence/graphic"}
)  # fmt: skip


def read_inputs(body: dict[str, Any], max_batch: int) -> list[Any]:
    """The conversations to judge, one per result; ``ApiError`` (400) on a malformed input."""
    if "input" not in body:
        raise ApiError(400, "'input' is required: a string, a list of strings, or a list of "
                       "multi-modal parts", param="input")  # fmt: skip
    value = body["input"]
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise ApiError(400, "'input' must be a string or a non-empty list", param="input")
    if all(isinstance(item, str) for item in value):
        if len(value) > max_batch:
            raise ApiError(400, f"'input' holds {len(value)} items; this server takes at most "
                           f"{max_batch} per request", param="input")  # fmt: skip
        return list(value)
    if all(isinstance(item, dict) for item in value):
        return [[{"role": "user", "content": [_part(item, i) for i, item in enumerate(value)]}]]
    raise ApiError(400, "'input' must be all strings or all multi-modal parts, not a mix",
                   param="input")  # fmt: skip


def _part(item: dict[str, Any], index: int) -> dict[str, Any]:
    kind = item.get("type")
    if kind == "text" and isinstance(item.get("text"), str):
        return {"type": "text", "text": item["text"]}
    image = item.get("image_url")
    if kind == "image_url" and isinstance(image, dict) and isinstance(image.get("url"), str):
        return {"type": "image_url", "image_url": {"url": image["url"]}}
    raise ApiError(400, f"input[{index}] must be {{'type': 'text', 'text': str}} or "
                   "{'type': 'image_url', 'image_url': {'url': str}}", param="input")  # fmt: skip


def moderation_result(verdict: Verdict, *, has_images: bool) -> dict[str, Any]:
    """One ``results[]`` entry. ``flagged`` is the guard's decision (policy, threshold and error
    policy applied); the OpenAI categories are those the flagged Llama Guard categories map to,
    scored with the verdict's P(unsafe) where the backend gives one, else 1.0."""
    flagged = verdict.flagged  # a shadow guard reports what it would block
    mapped, unmapped = openai_names(c.name for c in verdict.categories) if flagged else (set(), [])
    hit = 1.0 if verdict.score is None else verdict.score
    inputs = ["text", "image"] if has_images else ["text"]
    return {
        "flagged": flagged,
        "categories": {name: name in mapped for name in OPENAI_CATEGORIES},
        "category_scores": {name: hit if name in mapped else 0.0 for name in OPENAI_CATEGORIES},
        "category_applied_input_types": {
            name: inputs if name in _IMAGE_CATEGORIES else ["text"] for name in OPENAI_CATEGORIES
        },
        "llama_guard": {
            "safe": verdict.safe,
            "codes": list(verdict.codes),
            "categories": [{"code": c.code, "name": c.name} for c in verdict.categories],
            "unmapped": unmapped,
            "score": verdict.score,
            "role": verdict.role,
            "raw": verdict.raw,
            "model": verdict.model,
            "cached": verdict.cached,
            "error": verdict.error,
        },
    }
