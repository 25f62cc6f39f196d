"""P(unsafe) does not depend on which shape a server (or an SDK) returns the logprobs in: chat
``content`` entries, completions lists, dicts or SDK objects, with or without the sampled token.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from llamashield._scores import verdict_score

WORDS = ["safe", "unsafe", " unsafe", "Ġsafe", "Unsafe", "S1", "\n"]
logprob = st.floats(min_value=-30.0, max_value=0.0, allow_nan=False)


@st.composite
def answers(draw: st.DrawFn) -> tuple[list[str], list[float], list[dict[str, float]]]:
    """Positions of an answer: sampled tokens, their logprobs, and each one's top list (which
    holds the sampled token, as servers list it)."""
    lead = draw(st.lists(st.sampled_from(["\n\n", " ", "Ċ"]), max_size=2))
    tokens = [*lead, draw(st.sampled_from(["safe", "unsafe", " unsafe", "Ġsafe"])), "\n"]
    logprobs = [draw(logprob) for _ in tokens]
    tops = []
    for token, value in zip(tokens, logprobs, strict=True):
        others = draw(st.dictionaries(st.sampled_from(WORDS), logprob, max_size=3))
        tops.append({**others, token: value})
    return tokens, logprobs, tops


def _chat(tokens: list[str], logprobs: list[float], tops: list[dict[str, float]]) -> Any:
    return {"content": [
        {"token": t, "logprob": lp, "top_logprobs": [{"token": k, "logprob": v}
                                                     for k, v in top.items()]}
        for t, lp, top in zip(tokens, logprobs, tops, strict=True)
    ]}  # fmt: skip


def _objects(value: Any) -> Any:
    """The same answer as an SDK returns it: objects with attributes, not dicts."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: _objects(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_objects(v) for v in value]
    return value


@given(answers())
def test_chat_completions_and_sdk_objects_give_one_score(
    answer: tuple[list[str], list[float], list[dict[str, float]]],
) -> None:
    tokens, logprobs, tops = answer
    chat = verdict_score(_chat(tokens, logprobs, tops))
    completions = verdict_score({"tokens": tokens, "token_logprobs": logprobs,
                                 "top_logprobs": tops})  # fmt: skip
    assert chat == completions
    assert verdict_score(_objects(_chat(tokens, logprobs, tops))) == chat
    assert chat is None or 0.0 <= chat <= 1.0


@given(answers())
def test_without_the_sampled_tokens_the_top_lists_best_stands_in(
    answer: tuple[list[str], list[float], list[dict[str, float]]],
) -> None:
    tops = answer[2]
    best = [max(top, key=top.__getitem__) for top in tops]
    given_best = {"tokens": best, "token_logprobs": [top[b] for top, b in zip(tops, best,
                                                                              strict=True)],
                  "top_logprobs": tops}  # fmt: skip
    assert verdict_score({"top_logprobs": tops}) == verdict_score(given_best)


@given(top=st.dictionaries(st.sampled_from(["safe", "unsafe"]), logprob, min_size=1))
def test_a_single_top_mapping_is_read_as_one_position(top: dict[str, float]) -> None:
    assert verdict_score({"top_logprobs": top}) == verdict_score({"top_logprobs": [top]})


@given(
    top=st.dictionaries(st.sampled_from(["safe", "unsafe"]), logprob, min_size=1),
    junk=st.lists(st.sampled_from([True, math.nan, "x", None]), min_size=1, max_size=3),
)
def test_values_that_are_not_logprobs_are_ignored(top: dict[str, float], junk: list[Any]) -> None:
    entries = [{"token": k, "logprob": v} for k, v in top.items()]
    noisy = entries + [{"token": "unsafe " * (i + 1), "logprob": j} for i, j in enumerate(junk)]
    noisy += [{"token": 7, "logprob": -0.1}]  # a token that is no text
    token = max(top, key=top.__getitem__)
    plain = {"content": [{"token": token, "logprob": top[token], "top_logprobs": entries}]}
    messy = {"content": [{"token": token, "logprob": top[token], "top_logprobs": noisy}]}
    assert verdict_score(messy) == verdict_score(plain)


def test_an_answer_of_whitespace_only_has_no_score() -> None:
    assert verdict_score({"tokens": ["\n", " "], "token_logprobs": [-0.1, -0.2]}) is None
    assert verdict_score({"content": "not a list", "tokens": "nor this"}) is None
