"""max_chars is checked after every message was neutralised (read_messages -> neutralize ->
_unicode.reveal, then _check_job.prepare_job compares the size): a message of any size costs its
whole Unicode pass first, on the event loop under acheck (measured here: 6,000,000 characters
of mixed-script words block the loop about 2 s with timeout=1 and max_chars=100,000, growing
linearly). Shown without timing: the characters the Unicode pass receives, for a conversation
1,000 times over max_chars."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

import llamashield._conversation as conversation
from llamashield import LlamaGuard
from llamashield._unicode import reveal
from llamashield.backends import SimulatedBackend


def test_oversized_input_is_refused_before_the_unicode_pass() -> None:
    guard = LlamaGuard(SimulatedBackend(), max_chars=1_000)
    text = "b\u043emb " * 200_000  # 1,000,000 characters, 1,000 times max_chars
    seen: list[int] = []
    real = reveal  # what _conversation imported

    def counting(value: str) -> Any:
        seen.append(len(value))
        return real(value)

    with patch.object(conversation, "reveal", counting):
        verdict = guard.check(text)
    assert not verdict.safe and verdict.error  # refused by max_chars in the end
    assert sum(seen) <= 2 * guard.max_chars, f"{sum(seen):,} characters went through reveal"
