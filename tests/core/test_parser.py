"""The verdict parser: exact verdicts read, everything else fails closed."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llamashield import LLAMA_GUARD_2, LLAMA_GUARD_3
from llamashield._parser import parse_answer, score_from_logprobs


def test_safe() -> None:
    parsed = parse_answer("safe", LLAMA_GUARD_2)
    assert not parsed.unsafe and parsed.error is None


def test_unsafe_with_codes_and_llama_guard_3_leading_newlines() -> None:
    parsed = parse_answer("\n\nunsafe\nS1,S10<|eot_id|>", LLAMA_GUARD_3)
    assert parsed.unsafe and parsed.error is None
    assert [c.name for c in parsed.categories] == ["Violent Crimes", "Hate"]


def test_codes_are_read_with_the_models_taxonomy() -> None:
    assert parse_answer("unsafe\nS5", LLAMA_GUARD_2).categories[0].name == "Specialized Advice"
    assert parse_answer("unsafe\nS5", LLAMA_GUARD_3).categories[0].name == "Defamation"


def test_unsafe_without_codes_is_unsafe() -> None:
    parsed = parse_answer(" unsafe ", LLAMA_GUARD_2)
    assert parsed.unsafe and parsed.categories == () and parsed.error is None


@pytest.mark.parametrize(
    "raw", ["", "   ", "I cannot help", "unsafe\nS12", "unsafe\nS1,banana", "safe\nS1", "Safe!"]
)
def test_unreadable_answers_fail_closed(raw: str) -> None:
    parsed = parse_answer(raw, LLAMA_GUARD_2)
    assert parsed.unsafe and parsed.error


def test_non_text_fails_closed() -> None:
    assert parse_answer(None, LLAMA_GUARD_2).error


@given(st.text())
def test_any_text_parses_without_raising_and_unreadable_is_never_safe(raw: str) -> None:
    parsed = parse_answer(raw, LLAMA_GUARD_2)
    if not parsed.unsafe:
        assert raw.strip().lower() == "safe"


@given(st.lists(st.sampled_from(LLAMA_GUARD_2.codes), min_size=1, max_size=5))
def test_any_valid_code_list_round_trips(codes: list[str]) -> None:
    parsed = parse_answer("unsafe\n" + ",".join(codes), LLAMA_GUARD_2)
    assert parsed.error is None
    assert [c.code for c in parsed.categories] == list(dict.fromkeys(codes))


def test_score_from_bare_and_spaced_tokens() -> None:
    score = score_from_logprobs(
        {"safe": math.log(0.3), " safe": math.log(0.1), "unsafe": math.log(0.5), "x": 0.0}
    )
    assert score == pytest.approx(0.5 / 0.9)
    assert score_from_logprobs({"hello": 0.0}) is None
