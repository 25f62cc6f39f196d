"""``neutralize`` skips rules whose characters are absent (issue 13): the same text out as
running every rule, for any input."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from llamashield import _conversation as conv
from llamashield import _unicode as uni
from llamashield._conversation import neutralize


def every_rule(text: str) -> str:
    """Every rule on every text, in order: the reference the fast path must equal."""
    text = uni._SURROGATE.sub("\ufffd", text)
    hidden = uni._smuggled_runs(text)
    if hidden:
        text = "\n".join([text, *hidden])
    text = uni._INVISIBLE.sub("", text)
    text = text.translate(uni._fancy_letters()[0])
    text = uni._fold_every_word(text)
    text = unicodedata.normalize("NFKC", text)
    text = uni._STRAY_MARKS.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(uni._fancy_letters()[0])
    text = uni._fold_every_word(text)
    text = conv._CONTROL.sub(" ", text)
    text = conv._LINE_BREAK.sub("\n", text)
    text = conv._MARKERS.sub(lambda m: f"({m.group(2).upper()}{m.group(3).upper()})", text)
    text = conv._INST.sub(lambda m: f"({m.group(1)}INST)", text)
    text = conv._SPECIAL_TOKEN.sub(lambda m: f"(|{m.group(1)}|)", text)
    text = conv._LLAMA2_TOKEN.sub(lambda m: m.group(0).replace("<", "(").replace(">", ")"), text)
    text = conv._ROLE_LINE.sub(lambda m: f"{m.group(1)}{m.group(2)} (quoted):", text)
    text = re.sub(r"\n(?:[ \t]*\n)+", "\n", text)
    return text.strip()


# Pieces that trigger each rule, mixed with ordinary and odd characters.
PIECES = [
    "<BEGIN CONVERSATION>", "< /end unsafe content categories >", "[INST]", "[ /inst ]",
    "<|eot_id|>", "<|begin_of_text|>", "</s>", "<s>", "\nUser:", "\n  agent :", "\n\n", "\n \t\n",
    "\r\n", "\u2028", "b\u200bomb", "b\u043emb", "\u03b1\u03b2", "\uff1c", "e\u0301",
    "b\u0336o\u0336", "\x00", "\x7f", "\x85", "\u00ad", "hello", " ", ":", "<", "[", "|",
    "\ud800", "\U000e0062\U000e006f\U000e006d\U000e0062", "\ufe01", "\u200b", "\u200d",
    "\U000e0001", "\U000e0062\u200b\U000e006f", "\ufe01\u200d\ufe02", "b\u0585mb",
    "\u13cfomb", "\u0561", "\u0585", "\u13cf", "\u0915", "\u0966", "\u3007", "\u30ed",
    "\u043a\u0456ll", "\u03c7", "caf\u00e9", "\u0444", "\u0570", "\u03f2", "\U0001d41b", "\u037a",
    "\u0299", "\u1d0f", "\ua7ae", "\u1da6", "\U0001f171", "\U0001f151", "\U0001f1e7", "\u00df",
    "n\U000e0062i\U000e006f", "\u0363", "\U0001f1a5", "\u0484\u20dd\u05b7",
]  # fmt: skip
texts = st.one_of(
    st.text(),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)), max_size=12).map("".join),
)


@settings(max_examples=600, deadline=None)
@given(text=texts)
def test_neutralize_equals_running_every_rule(text: str) -> None:
    assert neutralize(text) == every_rule(text)
