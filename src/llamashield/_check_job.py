"""A check prepared from a conversation, pure (no backend call): the request, its chunks, or why
it cannot be judged at all. Local image files are read here, within the check's timeout."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llamashield._checks import MEDIA_ONLY
from llamashield._chunking import split_long_turn
from llamashield._media import ImageRejected, why_no_images, with_images
from llamashield.backends._base import GuardRequest

if TYPE_CHECKING:
    from llamashield._content import MediaPart
    from llamashield._conversation import Conversation
    from llamashield._guard import LlamaGuard

__all__ = ["CheckJob", "prepare_job"]


@dataclass(frozen=True)
class CheckJob:
    """What one check will do: the normalised request, and the chunks sent to the backend;
    ``rejected`` says why it cannot be judged at all."""

    request: GuardRequest
    requests: list[GuardRequest]
    rejected: str | None = None
    media_error: str | None = None  # set under media="block" when the conversation has media


def prepare_job(guard: LlamaGuard, turns: Conversation) -> CheckJob:
    """What checking ``turns`` takes: rejected before any I/O (content that cannot be judged,
    an image refused, only media, over ``max_chars``), or the requests to send (the chunks of
    a long turn)."""
    request = GuardRequest(turns, guard.policy.taxonomy, guard.policy.threshold)
    problem = next((t.problem for t in request.conversation if t.problem), None)
    if problem is not None:
        return CheckJob(request, [], f"content that cannot be judged: {problem}")
    if guard.media == "judge" and any(t.media for t in request.conversation):
        try:
            # Local image files are read here, before the backend call, within the same
            # timeout as the call (a slow or stuck file cannot hold the check past it).
            deadline = time.monotonic() + guard.timeout
            turns = with_images(
                request.conversation, guard.image_limits,
                media_root=guard.media_root, deadline=deadline,
            )  # fmt: skip
        except ImageRejected as exc:
            return CheckJob(request, [], str(exc))
        request = GuardRequest(turns, request.taxonomy)
    media = [part for turn in request.conversation for part in turn.media]
    if request.conversation[-1].media_only:
        only = _media_blocked(guard, media) if guard.media == "block" else MEDIA_ONLY
        return CheckJob(request, [], only)
    # Under "block" the text is still judged: text the model calls unsafe stays unsafe
    # whatever on_error says; only a safe text leaves the media to the error policy.
    media_error = _media_blocked(guard, media) if media and guard.media == "block" else None
    size = sum(len(t.content) for t in request.conversation)
    if size > guard.max_chars:
        return CheckJob(request, [], f"conversation of {size:,} characters exceeds max_chars")
    parts = split_long_turn(request.conversation, guard.chunk_chars, guard.chunk_overlap)
    if len(parts) == 1 and parts[0] is request.conversation:
        return CheckJob(request, [request], media_error=media_error)
    requests = [GuardRequest(part, request.taxonomy, request.threshold) for part in parts]
    return CheckJob(request, requests, media_error=media_error)


def _media_blocked(guard: LlamaGuard, media: list[MediaPart]) -> str:
    found = ", ".join(dict.fromkeys(f"{m.kind} ({m.source})" for m in media))
    # Name the model that would read the image, and why this guard's cannot.
    reason = why_no_images(guard.backend, guard.policy.taxonomy)
    because = f" ({reason})" if reason and any(m.kind == "image" for m in media) else ""
    return (
        f"the conversation has non-text content Llama Guard cannot read here: {found}"
        f"{because}; with media='block' the error policy decides. Pass "
        "LlamaGuard(media='text_only') to judge only the text and let media through unjudged"
    )
