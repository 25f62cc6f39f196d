"""neutralize() (every message, before any I/O, on the event loop under acheck) ran
`_MARKERS` (`<\\s*(/?)\\s*(BEGIN|END)...`) and `_INST` (`\\[\\s*(/?)\\s*INST\\s*\\]`): two plain
`\\s*` around an optional `/` make the regex engine try every split of a whitespace run after
"<" or "[", quadratic in its length. Measured before the fix (this machine): "<" + 20,000
spaces took 5.8 s in `check()` with `timeout=1`, and `acheck()` froze the event loop 2.7 s
for "[" + 20,000 spaces; the default max_chars (2,000,000) allows hours. User content then
holds the library far past its deadline.

Fixed in _conversation.py (possessive `\\s*+`, same matches in linear time). These tests check
that the fixed patterns substitute exactly as the old ones did, and that a message of a
million adversarial characters is neutralised (with the old patterns this call would run for
hours; no time is asserted here)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from llamashield._conversation import _INST, _MARKERS, neutralize

OLD_MARKERS = re.compile(
    r"<\s*(/?)\s*(BEGIN|END)(\s+(?:UNSAFE\s+CONTENT\s+CATEGORIES|CONVERSATION))\s*>",
    re.IGNORECASE,
)
OLD_INST = re.compile(r"\[\s*(/?)\s*INST\s*\]", re.IGNORECASE)

PIECES = ["<", ">", "[", "]", "/", " ", "\t", "\n", "\u3000", "BEGIN", "end", "INST", "inst",
          "UNSAFE", "CONTENT", "CATEGORIES", "CONVERSATION", "x"]  # fmt: skip
texts = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)


def _markers(m: re.Match[str]) -> str:
    return f"({m.group(2).upper()}{m.group(3).upper()})"


def _inst(m: re.Match[str]) -> str:
    return f"({m.group(1)}INST)"


@settings(max_examples=400, deadline=None)
@given(texts)
def test_the_linear_patterns_match_as_the_old_ones(text: str) -> None:
    assert _MARKERS.sub(_markers, text) == OLD_MARKERS.sub(_markers, text)
    assert _INST.sub(_inst, text) == OLD_INST.sub(_inst, text)


def test_a_million_spaces_after_a_bracket_are_neutralised() -> None:
    run = " " * 1_000_000
    text = f"<{run}[{run}< / BEGIN CONVERSATION>[ /INST]"
    out = neutralize(text)
    assert "(BEGIN CONVERSATION)" in out and "(/INST)" in out
    assert "<BEGIN" not in out.upper().replace(" ", "")
