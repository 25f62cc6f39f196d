"""Whole conversations: which turns are judged, each as the last turn of its own prefix. Pure.

Llama Guard classifies the last turn of what it is shown. A pipeline that receives a whole
conversation from a client (a chat API's ``messages=[...]``, an agent resumed from saved state,
a chat engine's ``chat_history``) passes every earlier turn to its model too, so each turn that
came from outside is shown to the guard as the last turn of the conversation up to it. Turns the
guarded model itself produced in this run (and that were judged as its output) are ``trusted``
by index and only serve as context.

Example::

    outside_prefixes(read_messages([("user", "hi"), ("assistant", "Sure: ..."), ("user", "more")]))
    # three conversations: ..."hi" | ..."Sure: step 1..." (the Agent's) | ..."go on"
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from llamashield._conversation import Conversation, Turn, merge_turns

__all__ = ["outside_prefixes"]


def outside_prefixes(
    messages: Sequence[Turn], trusted: Collection[int] = ()
) -> list[tuple[int, Conversation]]:
    """Each message that came from outside (its index), with the conversation ending with it.

    ``messages`` are ``read_messages``'s turns; ``trusted`` holds the indexes of messages the
    guarded model produced in this run. Messages with nothing to judge (no text, no media,
    nothing unreadable) are context only. When nothing else is left to judge, the last message
    is, so the result is never empty. Raises like ``normalize_conversation`` on malformed input.
    """
    judged = [
        (index, merge_turns(messages[: index + 1]))
        for index, turn in enumerate(messages)
        if index not in trusted and (turn.content or turn.media or turn.problem is not None)
    ]
    return judged or [(len(messages) - 1, merge_turns(messages))]
