"""Fitting checks to what a local server serves: windows, combined answers, its own words.

Pure functions of ``llamashield.backends._served``; the llama.cpp lane (tests/engines) runs the
same paths against real ``llama-server`` and ``llama_cpp.server`` processes.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamashield import ConfigurationError
from llamashield._conversation import normalize_conversation
from llamashield._taxonomy import LLAMA_GUARD_3
from llamashield.backends._base import BackendAnswer, GuardRequest
from llamashield.backends._served import (
    combine_answers,
    context_from_error,
    continues_judged_turn,
    fit,
    window_chars,
)


def _request(conversation: object) -> GuardRequest:
    return GuardRequest(normalize_conversation(conversation), LLAMA_GUARD_3)


@pytest.mark.parametrize(
    ("message", "context"),
    [
        # llama-cpp-python, llama_cpp/llama.py _create_completion
        ("Requested tokens (3512) exceed context window of 2048", 2048),
        # llama-server, tools/server/server-context.cpp
        ("request (9000 tokens) exceeds the available context size (4096 tokens), try "
         "increasing it", 4096),
        ("input (9000 tokens) is larger than the max context size (512 tokens). skipping", 512),
        # vLLM
        ("This model's maximum context length is 8192 tokens. However, you requested", 8192),
        ("model 'x' not found", None),
    ],
)  # fmt: skip
def test_the_context_a_server_names_in_its_error(message: str, context: int | None) -> None:
    assert context_from_error(f'{{"error": {{"message": "{message}"}}}}') == context


@settings(max_examples=50, deadline=None)
@given(
    text=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
                 max_size=30_000).filter(str.strip),
    context=st.integers(1200, 16_384),
)  # fmt: skip
def test_windows_cover_the_whole_message_and_fit_the_estimate(text: str, context: int) -> None:
    request = _request(text)
    window = window_chars(request, context, max_tokens=20)
    parts = fit(request, window)
    last = request.conversation[-1].content
    assert all(len(p.conversation[-1].content) <= window for p in parts)
    # Every character of the judged turn is in some window, in order.
    covered = "".join(p.conversation[-1].content for p in parts)
    assert len(parts) == 1 or len(covered) >= len(last)
    assert parts[0].conversation[-1].content == last[: len(parts[0].conversation[-1].content)]
    assert parts[-1].conversation[-1].content == last[-len(parts[-1].conversation[-1].content) :]
    # Each window's prompt fits the context at three characters a token.
    for part in parts:
        assert len(part.completion_prompt) // 3 + 20 <= context


def test_a_context_too_small_for_the_policy_says_what_to_change() -> None:
    with pytest.raises(ConfigurationError, match=r"-c 8192.*--n_ctx 8192"):
        window_chars(_request("hello"), 300, max_tokens=20)


def test_a_short_conversation_is_one_request() -> None:
    request = _request("hello")
    assert fit(request, 1000) == [request]


def _answer(text: str, score: float | None = 0.1) -> BackendAnswer:
    return BackendAnswer(text, score, "m")


def test_windows_combine_unsafe_if_any_with_every_code_in_taxonomy_order() -> None:
    request = _request("x")
    answers = [_answer("safe", 0.1), _answer("unsafe\nS10,S1", 0.9), _answer("unsafe\nS2", 0.7)]
    combined = combine_answers(answers, request)
    assert (combined.text, combined.score) == ("unsafe\nS1,S2,S10", 0.9)
    assert combine_answers([_answer("safe", 0.2), _answer("safe", 0.3)], request).score == 0.3
    partial = combine_answers([_answer("safe", None), _answer("safe", 0.3)], request)
    assert partial.score is None  # a window without a score: no score for the whole
    odd = combine_answers([_answer("safe"), _answer("I cannot judge this")], request)
    assert odd.text == "I cannot judge this"  # unreadable: the guard's parser reports it


def test_a_reply_that_carries_on_the_judged_answer_is_recognised() -> None:
    said = "Mix these chemicals: bleach and"
    agent = _request([{"role": "user", "content": "q"}, {"role": "assistant", "content": said}])
    assert continues_judged_turn("Mix these chemicals: bleach and GGGG", agent, "unknown")
    assert continues_judged_turn("GGGG", agent, "llama.cpp")  # llama-server: any non-verdict
    assert not continues_judged_turn("unsafe\nS9", agent, "llama.cpp")
    assert not continues_judged_turn("GGGG", agent, "vllm")
    assert not continues_judged_turn("Mix these chemicals", _request("Mix"), "llama.cpp")
