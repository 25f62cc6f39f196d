"""Long messages: judge them in overlapping windows and combine. Pure.

Llama Guard reads 8,192 tokens; a longer turn would be cut by the server or the tokenizer, and
whatever was cut would go unjudged. So a long last turn is split into overlapping chunks, each
judged with the (clipped) context before it, and the conversation is unsafe if any chunk is.

The guarantee: **every span of at most ``overlap`` characters of the turn lies whole inside at
least one window**, so a request up to that long is never judged only in halves. Windows are
``chunk_chars`` long and start every ``chunk_chars - overlap`` characters: window ``k`` covers
``[k*step, k*step + chunk_chars)``, and consecutive windows share exactly ``overlap``
characters. A span starting at ``a`` lies in window ``a // step``, which ends at least
``chunk_chars - step + 1 = overlap + 1`` characters past ``a`` (so spans of ``overlap + 1``
fit too, and that is tight: the span ``[step - 1, chunk_chars + 1)`` is in no window); near
the end, where that window does not exist, in the last window, which ends at the end of the
text. Windows start while ``start < len - overlap``: one starting later would lie inside the
one before it, so no window is redundant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from llamashield._conversation import Conversation
from llamashield._verdict import Verdict

__all__ = ["combine_verdicts", "split_long_turn"]


def split_long_turn(
    conversation: Conversation, chunk_chars: int, overlap: int
) -> list[Conversation]:
    """One conversation per chunk of the last turn; earlier turns clipped to their tail.

    Every span of at most ``overlap`` characters of the last turn is whole in one chunk (see
    the module's docstring); ``0 <= overlap < chunk_chars``.
    """
    if not 0 <= overlap < chunk_chars:
        raise ValueError(f"need 0 <= overlap < chunk_chars, got {overlap} and {chunk_chars}")
    last = conversation[-1]
    context_budget = chunk_chars // 4
    # replace() keeps every other field of a turn: its images go with each chunk, never dropped.
    context = tuple(
        replace(t, content=t.content[-context_budget:]) if len(t.content) > context_budget else t
        for t in conversation[:-1]
    )
    if len(last.content) <= chunk_chars and context == conversation[:-1]:
        return [conversation]
    step = chunk_chars - overlap
    text = last.content
    # A window starting at or past len - overlap would lie inside the one before it.
    starts = range(0, max(len(text) - overlap, 1), step)
    return [(*context, replace(last, content=text[i : i + chunk_chars])) for i in starts]


def combine_verdicts(verdicts: Sequence[Verdict]) -> Verdict:
    """Unsafe if any chunk is unsafe; an error in a chunk that decided nothing fails closed."""
    if len(verdicts) == 1:
        return verdicts[0]
    deciding = [v for v in verdicts if not v.safe] or list(verdicts)
    categories = tuple(dict.fromkeys(c for v in verdicts for c in v.categories))
    scores = [v.score for v in verdicts if v.score is not None]
    errors = [v.error for v in deciding if v.error]
    first = deciding[0]
    return first.model_copy(
        update={
            "safe": all(v.safe for v in verdicts),
            "categories": categories,
            "score": max(scores) if scores else None,
            "raw": first.raw,
            "latency_ms": max(v.latency_ms for v in verdicts),
            "error": f"{errors[0]} (in {len(errors)} of {len(verdicts)} chunks)"
            if errors
            else None,
        }
    )
