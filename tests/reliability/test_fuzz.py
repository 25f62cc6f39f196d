"""Hypothesis properties over the parser, the prompt builder and message normalisation.

- Only the documented exceptions: ``TypeError``/``ValueError`` for input that is not a
  conversation; the answer parser never raises and never calls unreadable text safe.
- The builder's output parses back to the very turns it was given, for every generation, both
  roles, and custom policies, whatever the message text.
- ``neutralize`` is idempotent, and its output carries no prompt structure.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamashield import (
    LLAMA_GUARD_1,
    LLAMA_GUARD_2,
    LLAMA_GUARD_3,
    LLAMA_GUARD_4,
    Category,
    Taxonomy,
)
from llamashield._conversation import neutralize, normalize_conversation
from llamashield._parser import parse_answer
from llamashield._prompts import build_prompt, parse_prompt

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text biased towards what breaks prompts: markers, role labels, blank lines, odd code points.
PIECES = ["<END CONVERSATION>", "<BEGIN CONVERSATION>", "[/INST]", "[INST]", "<|eot_id|>",
          "<|eot|>", "<|start_header_id|>", "</s>", "<s>", "\n\n", "\n", "\r\n", "\r", "\u2028",
          "User: ", "Agent: ", "agent :", "<BEGIN UNSAFE CONTENT CATEGORIES>", "S1: Nothing.",
          "\u200b", "\u202e", "\x00", "\x85", "\u0336", "\u043e", "＜", "safe", "unsafe\nS1",
          " ", "\t", "bomb"]  # fmt: skip
TEXT = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=12)), max_size=12).map("".join)
ROLES = st.sampled_from(
    ["user", "assistant", "human", "ai", "system", "tool", "USER", "Assistant", "model"]
)
PART = st.one_of(
    TEXT,
    st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}),
    st.fixed_dictionaries({"type": st.sampled_from(["image_url", "input_audio", "file"])}),
)
CONTENT = st.one_of(TEXT, st.none(), st.lists(PART, max_size=3))
MESSAGE = st.one_of(
    st.fixed_dictionaries({"role": ROLES, "content": CONTENT}),
    st.tuples(ROLES, TEXT),
)
CUSTOM = LLAMA_GUARD_2.with_categories(
    [Category("S1", "Pineapple Pizza", "Never praise pineapple on pizza."),
     Category("S2", "Spoilers", "No film endings.")]
)  # fmt: skip
TAXONOMIES = st.sampled_from([LLAMA_GUARD_1, LLAMA_GUARD_2, LLAMA_GUARD_3, LLAMA_GUARD_4, CUSTOM])
# Anything at all, to feed where a conversation is expected.
ANYTHING = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
              st.binary(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["role", "content", "type", "text"]), inner, max_size=3),
        st.tuples(inner, inner),
    ),
    max_leaves=8,
)  # fmt: skip


@FUZZ
@given(TEXT)
def test_neutralize_is_idempotent(text: str) -> None:
    once = neutralize(text)
    assert neutralize(once) == once


@FUZZ
@given(TEXT)
def test_neutralized_text_carries_no_prompt_structure(text: str) -> None:
    clean = neutralize(text)
    for marker in ("<END CONVERSATION>", "<BEGIN CONVERSATION>", "[/INST]", "<|eot_id|>",
                   "<|eot|>", "</s>", "\n\n", "\r", "\u2028"):  # fmt: skip
        assert marker not in clean
    assert not any(line.lstrip().startswith(("User:", "Agent:")) for line in clean.split("\n"))


@FUZZ
@given(st.lists(MESSAGE, min_size=1, max_size=6), TAXONOMIES)
def test_builder_output_parses_back_to_the_same_turns(
    messages: list[Any], taxonomy: Taxonomy
) -> None:
    try:
        conversation = normalize_conversation(messages)
    except ValueError:
        return  # only system/tool messages: documented
    roles = [turn.role for turn in conversation]
    assert roles[0] == "user" and all(a != b for a, b in pairwise(roles))
    turns, categories = parse_prompt(build_prompt(conversation, taxonomy))
    assert turns == conversation
    assert [c.code for c in categories] == list(taxonomy.codes)


@FUZZ
@given(ANYTHING)
def test_normalisation_raises_only_documented_errors(value: Any) -> None:
    try:
        conversation = normalize_conversation(value)
    except (TypeError, ValueError):
        return
    assert conversation and all(neutralize(turn.content) == turn.content for turn in conversation)


@FUZZ
@given(st.lists(ANYTHING, min_size=1, max_size=3))
def test_message_lists_of_anything_raise_only_documented_errors(messages: list[Any]) -> None:
    try:
        conversation = normalize_conversation(messages)
    except (TypeError, ValueError):
        return
    roles = [turn.role for turn in conversation]
    assert roles[0] == "user" and all(a != b for a, b in pairwise(roles))


VERDICT_LIKE = st.builds(
    lambda head, codes, sep, tail: head + sep + ",".join(codes) + tail,
    st.sampled_from(["safe", "unsafe", "Unsafe", " unsafe ", "\n\nunsafe", "SAFE", "unsure"]),
    st.lists(st.sampled_from(["S1", "S14", "O3", "s2", "S99", "X1", "", " S3"]), max_size=3),
    st.sampled_from(["\n", " ", "", "\n\n"]),
    st.sampled_from(["", "\n", "<|eot_id|>", "</s>", "\nmore text"]),
)


@FUZZ
@given(st.one_of(VERDICT_LIKE, ANYTHING), TAXONOMIES)
def test_parser_never_raises_and_only_a_clean_safe_is_safe(raw: Any, taxonomy: Taxonomy) -> None:
    parsed = parse_answer(raw, taxonomy)
    if not parsed.unsafe:
        assert isinstance(raw, str) and parsed.error is None
        text = raw.replace("<|eot_id|>", "").replace("<|eot|>", "").replace("</s>", "")
        assert text.strip().lower() == "safe"
    if parsed.error is not None:
        assert parsed.unsafe
