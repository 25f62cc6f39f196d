"""Cache keys and the stored form of a verdict. Pure, no I/O.

A key is a SHA-256 over everything that reaches the model or decides what its answer means:
the scope (model id; backend class and the settings of it that shape the answer, such as the
HTTP backends' ``mode``, ``max_tokens`` and ``logprobs`` or the simulated backend's rules;
whether it gives scores; the taxonomy with its category texts and the categories left out of
the prompt; the blocking codes; the threshold; how long turns are chunked; the media policy and
image limits) and the normalised conversation with its judged role and the images sent with
it. Two guards that would send a different prompt, or read the same answer differently,
therefore never share an entry. ``on_error`` is left out on purpose: error verdicts are never
cached, so it cannot change a cached one.

A conversation whose verdict depends on content llamashield never saw is never cached: an
image sent as an ``http(s)`` URL is fetched by the guard's server, and whatever sits behind the
URL may change, so ``cache_key`` returns ``None`` for it. Only base64 ``data:`` images (bytes
the guard checked) are part of a key.

The stored value holds the verdict only (decision, categories, score, role, model, latency and
the model's answer in canonical form); no text of the conversation is ever in it, so a shared
cache such as Redis never holds prompts, which can be personal data.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from llamashield._conversation import Conversation
from llamashield._policy import Policy
from llamashield._taxonomy import Category
from llamashield._verdict import Verdict
from llamashield.backends._base import Backend

__all__ = ["backend_settings", "cache_key", "cache_scope", "decode_verdict", "encode_verdict"]

# Bump when the key or value layout changes, so old entries are never misread. 2: the scope
# covers excluded categories, backend settings and media; http(s) images are never cached.
_FORMAT = 2


def backend_settings(backend: Backend) -> tuple[object, ...]:
    """What of a backend decides its answers, besides the model id: its class, whether it
    gives scores, and the ``cache_settings`` its capabilities declare (JSON values).

    Read once per guard, when its first cache key is made.
    """
    # The class itself: its repr in the digest names module and qualified name.
    can = backend.capabilities
    return (type(backend), can.cache_settings, can.gives_scores)


def cache_scope(
    *,
    model: str,
    backend: str,
    scores: object,
    policy: Policy,
    chunking: tuple[int, int],
    settings: object = None,
    media: object = None,
) -> str:
    """A digest of what, besides the conversation, decides a verdict.

    ``settings`` is ``backend_settings(backend)``; ``media`` the guard's media policy and image
    limits.
    """
    taxonomy = policy.taxonomy
    parts: list[Any] = [
        _FORMAT,
        model,
        backend,
        bool(scores),
        taxonomy.generation,
        taxonomy.custom,
        [[c.code, c.name, c.description] for c in taxonomy],
        sorted(taxonomy.excluded),
        sorted(policy.blocking),
        policy.threshold,
        list(chunking),
        settings,
        media,
    ]
    return _digest(parts)


def cache_key(scope: str, conversation: Conversation) -> str | None:
    """The key of one conversation's verdict within a scope (hex SHA-256), or ``None`` when
    the verdict must not be cached: an image the model fetches from a URL (not ``data:``)."""
    turns = []
    for t in conversation:
        if t.images:
            if not all(image.startswith("data:") for image in t.images):
                return None
            turns.append([t.role, t.content, *t.images])  # the image bytes decide too
        else:
            turns.append([t.role, t.content])
    return _digest([scope, conversation[-1].role, turns])


def _digest(parts: list[Any]) -> str:
    # JSON is unambiguous (strings are quoted and escaped), so distinct inputs never collide by
    # concatenation; ensure_ascii keeps the bytes independent of the platform's encoding.
    # A value JSON cannot write (a custom backend's setting) counts by its repr.
    payload = json.dumps(parts, ensure_ascii=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(payload.encode("ascii")).hexdigest()


def _canonical_answer(verdict: Verdict) -> str:
    """The model's answer rebuilt from its verdict line and codes: nothing else is kept."""
    first = verdict.raw.strip().split("\n", 1)[0].strip().lower()
    if first not in ("safe", "unsafe"):
        return ""
    return first + ("\n" + ",".join(verdict.codes) if verdict.codes else "")


def encode_verdict(verdict: Verdict) -> bytes:
    """The bytes a shared cache stores for ``verdict`` (no conversation text)."""
    if verdict.error is not None:
        raise ValueError("error verdicts are never cached")
    record = {
        "f": _FORMAT,
        "safe": verdict.safe,
        "categories": [[c.code, c.name, c.description] for c in verdict.categories],
        "score": verdict.score,
        "role": verdict.role,
        "raw": _canonical_answer(verdict),
        "model": verdict.model,
        "latency_ms": verdict.latency_ms,
    }
    return json.dumps(record, separators=(",", ":")).encode()


def decode_verdict(data: bytes | str) -> Verdict:
    """The cached ``Verdict`` back from ``encode_verdict``'s bytes; raises ``ValueError`` on
    anything else (a foreign or corrupt entry is a miss, never a verdict)."""
    try:
        record = json.loads(data)
        if not isinstance(record, dict) or record.get("f") != _FORMAT:
            raise ValueError("not a llamashield verdict of this format")
        categories = tuple(Category(str(c), str(n), str(d)) for c, n, d in record["categories"])
        safe = record["safe"]
        if not isinstance(safe, bool):
            raise ValueError("safe must be a bool")
        return Verdict(
            safe=safe,
            categories=categories,
            score=record["score"],
            role=record["role"],
            raw=str(record["raw"]),
            model=str(record["model"]),
            latency_ms=float(record["latency_ms"]),
            cached=True,
        )
    except (KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise ValueError(f"unreadable cached verdict: {exc}") from None
