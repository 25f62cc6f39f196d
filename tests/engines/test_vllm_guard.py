"""llamashield against a real vLLM server: exact verdicts, categories, scores and one BOS.

Each stand-in's answer and first-verdict-token probability are known (conftest.STANDINS), so
every verdict here is asserted exactly and every score to 1e-4. What llamashield sends is
recorded on the wire (a pass-through proxy) and tokenised by the server's own ``/tokenize``.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator

import httpx
import pytest

from llamashield import Category, LlamaGuard, Verdict
from llamashield.backends import OpenAICompatibleBackend, TogetherBackend
from tests._support.lanes import CONVERSATIONS, GUIDE, ROLES, USER, guide_block
from tests.engines.lane import Server

# The stand-ins' verdicts, read with each generation's own taxonomy (S9 differs).
EXPECTED = {
    "lg2": (False, ("S1", "S9"), ("Violent Crimes", "Hate")),
    "lg3": (False, ("S1", "S9"), ("Violent Crimes", "Indiscriminate Weapons")),
    "lg4": (True, (), ()),
}
CUSTOM = [Category(f"S{i}", f"Topic {i}", f"Should not discuss topic number {i}.")
          for i in range(1, 10)]  # fmt: skip
TIMEOUT = 120.0  # two shared cores: generous, and no assertion is about time


def openai(server: Server, mode: str = "completions") -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend(
        base_url=f"{server.recorder.url}/v1",
        model=server.model,
        mode=mode,  # type: ignore[arg-type]
    )


def together(server: Server, *, logprobs: bool = True) -> TogetherBackend:
    return TogetherBackend(
        model=server.model, api_key="lane", base_url=server.recorder.url, logprobs=logprobs
    )


def guard_calls(server: Server) -> list[str]:
    """The POSTs that judged, without the backend's first-use probe (its ``/tokenize``)."""
    return [p for p, _ in server.recorder.requests if p != "/tokenize"]


def assert_verdict(verdict: Verdict, server: Server, *, scored: bool = True) -> None:
    safe, codes, names = EXPECTED[server.name]
    assert verdict.error is None, verdict.error
    assert verdict.safe is safe, verdict.raw
    assert verdict.codes == codes
    assert tuple(c.name for c in verdict.categories) == names
    assert verdict.raw.strip() == server.standin.answer
    if scored:
        assert verdict.score == pytest.approx(server.standin.p_unsafe, abs=1e-4)


@pytest.fixture
def recorded(server: Server) -> Iterator[Server]:
    server.recorder.clear()
    yield server


# -- verdicts and scores, every client, every template --------------------------------------


@pytest.mark.parametrize("mode", ["completions", "chat"])
@pytest.mark.parametrize("conversation", list(CONVERSATIONS))
def test_openai_compatible_backend(recorded: Server, mode: str, conversation: str) -> None:
    guard = LlamaGuard(openai(recorded, mode), timeout=TIMEOUT)
    verdict = guard.check(CONVERSATIONS[conversation])
    assert_verdict(verdict, recorded)
    assert verdict.role == ROLES[conversation]
    assert verdict.model == recorded.model
    path = "/v1/completions" if mode == "completions" else "/v1/chat/completions"
    assert guard_calls(recorded) == [path]


@pytest.mark.parametrize("logprobs", [True, False])
@pytest.mark.parametrize("conversation", ["user", "agent"])
def test_together_sdk_pointed_at_vllm(recorded: Server, logprobs: bool, conversation: str) -> None:
    guard = LlamaGuard(together(recorded, logprobs=logprobs), timeout=TIMEOUT)
    verdict = guard.check(CONVERSATIONS[conversation])
    assert_verdict(verdict, recorded, scored=logprobs)
    assert verdict.role == ROLES[conversation]
    if not logprobs:
        assert verdict.score is None
    assert guard_calls(recorded) == ["/v1/chat/completions"]


@pytest.mark.parametrize("client", ["openai", "together"])
def test_custom_categories_go_through_the_raw_prompt(recorded: Server, client: str) -> None:
    backend = openai(recorded) if client == "openai" else together(recorded)
    verdict = LlamaGuard(backend, categories=CUSTOM, timeout=TIMEOUT).check(USER)
    safe, codes, _ = EXPECTED[recorded.name]
    assert verdict.error is None, verdict.error
    assert (verdict.safe, verdict.codes) == (safe, codes)
    assert tuple(c.name for c in verdict.categories) == tuple(f"Topic {c[1:]}" for c in codes)
    assert verdict.score == pytest.approx(recorded.standin.p_unsafe, abs=1e-4)
    (body,) = recorded.recorder.bodies("/v1/completions")
    # The policy text reached the model (its exact layout is the conformance suite's concern).
    assert "S9: Topic 9" in body["prompt"]
    assert "Should not discuss topic number 9." in body["prompt"]


# -- what reaches the model -----------------------------------------------------------------


@pytest.mark.parametrize("client", ["openai", "together-custom"])
@pytest.mark.parametrize("conversation", list(CONVERSATIONS))
def test_exactly_one_bos_reaches_the_model(
    recorded: Server, client: str, conversation: str
) -> None:
    if client == "openai":
        guard = LlamaGuard(openai(recorded), timeout=TIMEOUT)
    else:
        guard = LlamaGuard(together(recorded), categories=CUSTOM, timeout=TIMEOUT)
    guard.check(CONVERSATIONS[conversation])
    (body,) = recorded.recorder.bodies("/v1/completions")
    # /tokenize with a prompt adds special tokens as /v1/completions does by default.
    tokens = recorded.tokenize(prompt=body["prompt"])
    assert tokens.count(recorded.bos) == 1
    assert tokens[0] == recorded.bos


@pytest.mark.parametrize("conversation", list(CONVERSATIONS))
def test_chat_and_completions_reach_the_model_as_the_same_tokens(
    recorded: Server, conversation: str
) -> None:
    """llamashield's prompt and Meta's chat template (applied by vLLM) agree token for token."""
    for mode in ("completions", "chat"):
        LlamaGuard(openai(recorded, mode), timeout=TIMEOUT).check(CONVERSATIONS[conversation])
    (completion,) = recorded.recorder.bodies("/v1/completions")
    (chat,) = recorded.recorder.bodies("/v1/chat/completions")
    from_prompt = recorded.tokenize(prompt=completion["prompt"])
    from_template = recorded.tokenize(messages=chat["messages"], add_generation_prompt=True)
    if recorded.name == "lg2":
        # Meta's Llama Guard 2 template has no BOS and vLLM adds none on chat requests.
        assert from_template.count(recorded.bos) == 0
        from_prompt = from_prompt[1:]
    assert from_template == from_prompt


# -- policy on real scores ------------------------------------------------------------------


def test_thresholds_apply_to_the_verdict_tokens_probability(server: Server) -> None:
    p = server.standin.p_unsafe
    backend = openai(server)
    stricter = LlamaGuard(backend, threshold=p - 0.05, timeout=TIMEOUT).check(USER)
    assert not stricter.safe  # blocks at p >= threshold, whatever the text said
    assert stricter.score == pytest.approx(p, abs=1e-4)
    if EXPECTED[server.name][0]:
        looser = LlamaGuard(backend, threshold=p + 0.05, timeout=TIMEOUT).check(USER)
        assert looser.safe


def test_categories_outside_the_policy_are_reported_not_enforced(server: Server) -> None:
    verdict = LlamaGuard(openai(server), categories=["S2"], timeout=TIMEOUT).check(USER)
    assert verdict.safe
    assert verdict.codes == EXPECTED[server.name][1]


async def test_acheck_many_and_check_many(recorded: Server) -> None:
    conversations = list(CONVERSATIONS.values()) * 4
    guard = LlamaGuard(openai(recorded), timeout=TIMEOUT, max_concurrency=8)
    verdicts = await guard.acheck_many(conversations)
    verdicts += guard.check_many(conversations)
    for verdict, name in zip(verdicts, list(CONVERSATIONS) * 8, strict=True):
        assert_verdict(verdict, recorded)
        assert verdict.role == ROLES[name]
    assert len(recorded.recorder.bodies("/v1/completions")) == 2 * len(conversations)


def test_a_conversation_over_the_context_is_judged_in_windows_that_fit(recorded: Server) -> None:
    # ~9,000 tokens in one guard window: over --max-model-len 8192, which the backend read
    # from /v1/models at first use, so it splits the message into windows that fit.
    backend = openai(recorded)
    guard = LlamaGuard(backend, timeout=TIMEOUT, chunk_chars=100_000, max_retries=0)
    verdict = guard.check("a " * 9000)
    assert_verdict(verdict, recorded)
    assert backend.served is not None and backend.served.context == 8192
    assert len(recorded.recorder.bodies("/v1/completions")) > 1


# -- the serving guide ----------------------------------------------------------------------


@pytest.mark.parametrize("server", ["lg3"], indirect=True)
def test_prefix_cache_hits_across_requests(server: Server) -> None:
    guard = LlamaGuard(openai(server), timeout=TIMEOUT)
    guard.check("A first message, to warm the policy prefix.")
    block = int(server.label("vllm:cache_config_info", "block_size"))
    before = server.metric("vllm:prefix_cache_hits_total")
    for text in ("Another message entirely.", "And a third, different one?"):
        guard.check(text)
    gained = server.metric("vllm:prefix_cache_hits_total") - before
    # The shared policy prefix is served from the cache for both requests: at least one whole
    # KV block each, and only whole blocks.
    assert gained >= 2 * block
    assert gained % block == 0
    assert "vllm:prefix_cache_(hits|queries)_total" in GUIDE.read_text()  # what the guide greps


@pytest.mark.parametrize("server", ["lg3"], indirect=True)
def test_the_guides_client_snippet_runs(server: Server) -> None:
    code = guide_block("client").replace("http://localhost:8000", server.url)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/serving.md", "exec"), {})
    first, second = out.getvalue().splitlines()
    printed = re.fullmatch(r"(True|False) (\(.*\)) (\S+)", first)
    assert printed is not None, first
    assert printed.group(1, 2) == ("False", "('S1', 'S9')")
    assert float(printed.group(3)) == pytest.approx(0.73, abs=1e-4)
    assert second == "False"


@pytest.mark.parametrize("server", ["lg3"], indirect=True)
def test_the_guides_curl_paths_answer(server: Server) -> None:
    models = httpx.get(f"{server.url}/v1/models", timeout=30).json()
    assert [m["id"] for m in models["data"]] == [server.model]
    before = server.metric("vllm:prefix_cache_queries_total")
    LlamaGuard(openai(server), timeout=TIMEOUT).check(USER)
    assert server.metric("vllm:prefix_cache_queries_total") > before
