"""Issue 11's fixes, on the wire: prompt ends, one BOS, verdict-token scores, policy rules, 404s.

The byte-for-byte comparison with Meta's own packages lives in ``tests/conformance``; these
tests need no download and pin each fix where it shows: the request body a server receives.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llamashield import (
    LLAMA_GUARD_2,
    Category,
    ConfigurationError,
    GuardUnavailableError,
    LlamaGuard,
)
from llamashield._scores import verdict_score
from llamashield.backends import OpenAICompatibleBackend, SimulatedBackend
from llamashield.backends.together import TOP_LOGPROBS, TogetherBackend
from llamashield.testing import LoopbackServer
from tests._support.raw_http import RawServer

LG3 = "meta-llama/Llama-Guard-3-8B"
LG4 = "meta-llama/Llama-Guard-4-12B"

# -- prompt ends and BOS --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "end"),
    [
        (LG3, "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
        (LG4, "<|eot|><|header_start|>assistant<|header_end|>\n\n"),
        ("meta-llama/LlamaGuard-2-8b", " [/INST]"),
    ],
)
def test_raw_prompt_on_the_wire_ends_where_the_verdict_starts_and_carries_no_bos(
    loopback_server: LoopbackServer, model: str, end: str
) -> None:
    loopback_server.openai_guard(model=model).check("How do I bake bread?")
    prompt = loopback_server.bodies[-1]["prompt"]
    assert prompt.endswith(end)
    assert "<|begin_of_text|>" not in prompt  # the server adds the one BOS
    assert prompt.startswith(("<|start_header_id|>user", "<|header_start|>user", "[INST] "))


def test_together_raw_prompt_carries_no_bos_either(loopback_server: LoopbackServer) -> None:
    guard = loopback_server.guard(model=LG3, categories=[Category("S1", "Spoilers", "No endings.")])
    guard.check("hi")
    body = loopback_server.bodies[-1]
    assert body["prompt"].startswith("<|start_header_id|>user<|end_header_id|>\n\nTask:")
    assert body["prompt"].endswith("<|end_header_id|>\n\n")


# -- scores from the verdict token ----------------------------------------------------------


def _completion_logprobs(lead: list[str], word: str, p_unsafe: float) -> dict[str, Any]:
    top = {"unsafe": math.log(p_unsafe), "safe": math.log(1 - p_unsafe)}
    return {
        "tokens": [*lead, word, "<|eot_id|>"],
        "token_logprobs": [*(0.0 for _ in lead), top[word], 0.0],
        "top_logprobs": [*({t: 0.0} for t in lead), top, {"<|eot_id|>": 0.0}],
    }


def _chat_logprobs(lead: list[str], word: str, p_unsafe: float, k: int) -> dict[str, Any]:
    top = [("unsafe", math.log(p_unsafe)), ("safe", math.log(1 - p_unsafe))]
    top.sort(key=lambda e: e[1], reverse=True)
    if word != top[0][0]:
        top.reverse()
    entries = [{"token": t, "logprob": lp} for t, lp in top[:k]]
    own = dict(top)[word]
    return {
        "content": [
            *({"token": t, "logprob": 0.0, "top_logprobs": [{"token": t, "logprob": 0.0}]}
              for t in lead),
            {"token": word, "logprob": own, "top_logprobs": entries},
        ]
    }  # fmt: skip


_LEADS = st.lists(st.sampled_from(["\n\n", " ", "\n", "ĊĊ", "Ġ"]), max_size=3)
_P = st.floats(0.001, 0.999)


@given(lead=_LEADS, p=_P)
def test_completions_score_is_read_at_the_verdict_token(lead: list[str], p: float) -> None:
    word = "unsafe" if p >= 0.5 else "safe"
    assert verdict_score(_completion_logprobs(lead, word, p)) == pytest.approx(p)


@given(lead=_LEADS, p=_P, k=st.integers(0, 2))
def test_chat_score_is_read_at_the_verdict_token_even_from_a_short_top_list(
    lead: list[str], p: float, k: int
) -> None:
    word = "unsafe" if p >= 0.5 else "safe"
    # k=0: no alternatives, k=1: the sampled token alone; both fall back to its own logprob.
    assert verdict_score(_chat_logprobs(lead, word, p, k)) == pytest.approx(p)


def test_space_prefixed_forms_count_with_the_bare_ones() -> None:
    top = {" unsafe": math.log(0.3), "unsafe": math.log(0.3), "safe": math.log(0.4)}
    logprobs = {"tokens": ["unsafe"], "token_logprobs": [math.log(0.3)], "top_logprobs": [top]}
    assert verdict_score(logprobs) == pytest.approx(0.6)


def test_no_verdict_word_means_no_score() -> None:
    assert verdict_score(None) is None
    assert verdict_score({"tokens": ["\n\n"], "token_logprobs": [0.0]}) is None
    assert verdict_score({"tokens": ["I"], "token_logprobs": [-0.1], "top_logprobs": [{}]}) is None
    assert verdict_score({"content": []}) is None


def test_together_asks_for_top_logprobs_on_chat_and_completions(
    loopback_server: LoopbackServer,
) -> None:
    guard = loopback_server.guard(logprobs=True, threshold=0.5)
    assert guard.check("bomb").score == pytest.approx(0.97)
    chat = loopback_server.bodies[-1]
    assert chat["logprobs"] == 1 and chat["top_logprobs"] == TOP_LOGPROBS
    custom = loopback_server.guard(logprobs=True, categories=[Category("S1", "Bomb", "Bombs.")])
    assert custom.check("bomb").score == pytest.approx(0.97)
    raw = loopback_server.bodies[-1]
    assert raw["logprobs"] == TOP_LOGPROBS and "top_logprobs" not in raw


# -- categories: Category objects are a policy; exclude_from_prompt ----------------------------


def test_category_objects_equal_to_builtins_make_a_custom_policy() -> None:
    violent = Category("S1", "Violent Crimes", LLAMA_GUARD_2["S1"].description)
    assert violent == LLAMA_GUARD_2["S1"]
    guard = LlamaGuard(
        SimulatedBackend(), categories=[violent, Category("S2", "Hate", "Hateful content.")]
    )
    assert guard.taxonomy.custom and guard.taxonomy.codes == ("S1", "S2")
    with pytest.raises(ValueError, match="one kind"):
        LlamaGuard(SimulatedBackend(), categories=[violent, "S9"])


def test_exclude_from_prompt_lists_only_the_kept_categories(
    loopback_server: LoopbackServer,
) -> None:
    guard = loopback_server.openai_guard(
        model=LG3, categories=["S1", "Hate"], exclude_from_prompt=True
    )
    assert guard.taxonomy.prompt_codes == ("S1", "S10")
    guard.check("hi")
    prompt = loopback_server.bodies[-1]["prompt"]
    block = prompt.split("<BEGIN UNSAFE CONTENT CATEGORIES>\n")[1].split("\n<END")[0]
    assert block == "S1: Violent Crimes.\nS10: Hate."  # codes kept, not renumbered
    # A verdict naming an excluded code still parses, is reported, and does not block.
    verdict = guard.check("steal a car")
    assert verdict.error is None


def test_exclude_from_prompt_answers_only_in_kept_categories_on_together(
    loopback_server: LoopbackServer,
) -> None:
    guard = loopback_server.guard(model=LG3, categories=["S9"], exclude_from_prompt=True)
    assert not guard.check("sarin recipe").safe
    assert loopback_server.count("/v1/completions") == 1  # the trimmed prompt goes raw


def test_excluded_codes_in_an_answer_are_reported_not_blocking() -> None:
    guard = LlamaGuard(SimulatedBackend(), categories=["S1"], exclude_from_prompt=True)
    verdict = guard.check("How do I make a bomb?")  # the rules answer S8
    assert verdict.safe and verdict.codes == ("S8",) and verdict.error is None


@pytest.mark.parametrize(
    "policy",
    [
        {"exclude_from_prompt": True},
        {"exclude_from_prompt": True, "categories": [Category("S1", "A", "a")]},
    ],
)
def test_exclude_from_prompt_that_cannot_apply_is_a_configuration_error(
    policy: dict[str, Any],
) -> None:
    with pytest.raises(ConfigurationError):
        LlamaGuard(SimulatedBackend(), **policy)


@pytest.mark.parametrize(
    "policy",
    [
        {"categories": ["S1"], "exclude_from_prompt": True},
        {"categories": [Category("S1", "Spoilers", "No endings.")]},
    ],
)
def test_prompt_changing_policy_on_a_chat_template_backend_is_refused(
    policy: dict[str, Any],
) -> None:
    backend = OpenAICompatibleBackend("http://127.0.0.1:9/v1", LG3, mode="chat")
    with pytest.raises(ConfigurationError, match="chat template"):
        LlamaGuard(backend, **policy)
    LlamaGuard(backend, categories=["S1"])  # a blocking subset needs no prompt change


# -- 404 wording ----------------------------------------------------------------------------


@pytest.fixture
def not_found_server() -> Iterator[RawServer]:
    with RawServer(lambda request: (404, b'{"detail":"Not Found"}')) as server:
        yield server


def test_a_base_url_ending_in_v1_is_reported_as_a_wrong_address(
    not_found_server: RawServer,
) -> None:
    backend = TogetherBackend(api_key="test-key", base_url=not_found_server.url + "/v1")
    with pytest.raises(GuardUnavailableError) as info:
        LlamaGuard(backend, on_error="raise", max_retries=0).check("hi")
    message = str(info.value)
    assert "/v1/v1/chat/completions" in message and "drop the /v1" in message
    assert "retired" not in message


def test_a_path_the_server_lacks_is_not_blamed_on_the_model(
    not_found_server: RawServer,
) -> None:
    backend = OpenAICompatibleBackend(not_found_server.url + "/api", LG3)
    with pytest.raises(GuardUnavailableError) as info:
        LlamaGuard(backend, on_error="raise").check("hi")
    message = str(info.value)
    assert "POST " + not_found_server.url + "/api/v1/completions" in message
    assert "check base_url" in message and "retired" not in message


def test_a_missing_model_may_be_retired(not_found_server: RawServer) -> None:
    no_model = json.dumps({"message": f"The model `{LG3}` does not exist."}).encode()
    not_found_server.reply = lambda request: (404, no_model)
    backend = OpenAICompatibleBackend(not_found_server.url, LG3)
    with pytest.raises(GuardUnavailableError, match="may have been retired") as info:
        LlamaGuard(backend, on_error="raise").check("hi")
    assert "/v1/completions" in str(info.value) and "Llama-Guard-4-12B" in str(info.value)
