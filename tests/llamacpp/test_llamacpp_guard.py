"""llamashield against real llama.cpp servers: exact verdicts, one BOS, Meta's tokens, scores.

The stand-in's answer and first-verdict-token probability are known, so each verdict is
asserted exactly and each score to 1e-4, on both servers: llama-cpp-python's
``llama_cpp.server`` and llama.cpp's ``llama-server`` (their logprobs come in different
shapes). What llamashield sends is recorded on the wire and tokenised by the server itself.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest

from llamashield import ConfigurationError, LlamaGuard, Verdict
from llamashield._taxonomy import LLAMA_GUARD_3
from llamashield.backends import OpenAICompatibleBackend
from tests._support.lanes import CONVERSATIONS, ROLES, USER
from tests.llamacpp.llamacpp_lane import BOS, CONTEXT, STANDIN, Server, wire_prompts
from tests.local.meta_tokenizers import meta_tokenizer

TIMEOUT = 120.0


def backend(
    server: Server, mode: Literal["completions", "chat"] = "completions", **options: Any
) -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend(f"{server.recorder.url}/v1", server.model, mode=mode, **options)


def assert_verdict(verdict: Verdict, *, scored: bool = True) -> None:
    assert verdict.error is None, verdict.error
    assert (verdict.safe, verdict.codes) == (False, ("S1", "S9")), verdict.raw
    assert [c.name for c in verdict.categories] == ["Violent Crimes", "Indiscriminate Weapons"]
    assert verdict.raw.strip() == STANDIN.answer
    if scored:
        assert verdict.score == pytest.approx(STANDIN.p_unsafe, abs=1e-4)


@pytest.mark.parametrize("conversation", list(CONVERSATIONS))
def test_completions_verdicts_and_scores(recorded: Server, conversation: str) -> None:
    guard = LlamaGuard(backend(recorded), timeout=TIMEOUT)
    verdict = guard.check(CONVERSATIONS[conversation])
    assert_verdict(verdict)
    assert verdict.role == ROLES[conversation]
    assert len(wire_prompts(recorded)) == 1


@pytest.mark.parametrize("conversation", list(CONVERSATIONS))
def test_exactly_one_bos_and_metas_tokens_reach_the_model(
    recorded: Server, conversation: str
) -> None:
    probed = backend(recorded)
    LlamaGuard(probed, timeout=TIMEOUT).check(CONVERSATIONS[conversation])
    assert probed.served is not None and probed.served.bos_text == ""  # verified, not assumed
    expected_kind = "llama-cpp-python" if recorded.name == "llama_cpp.server" else "llama.cpp"
    assert probed.served.kind == expected_kind
    (prompt,) = wire_prompts(recorded)
    tokens = recorded.tokenize(prompt)
    assert tokens.count(BOS) == 1 and tokens[0] == BOS
    meta = meta_tokenizer(3)
    assert tokens == list(meta.encode(prompt, bos=True, eos=False, allowed_special="all"))


@pytest.mark.parametrize("conversation", list(CONVERSATIONS))
def test_chat_mode_with_the_ggufs_template(recorded: Server, conversation: str) -> None:
    guard = LlamaGuard(backend(recorded, mode="chat"), timeout=TIMEOUT)
    verdict = guard.check(CONVERSATIONS[conversation])
    assert_verdict(verdict, scored=False)
    assert verdict.role == ROLES[conversation]
    if verdict.score is not None:  # where the server's chat logprobs are read
        assert verdict.score == pytest.approx(STANDIN.p_unsafe, abs=1e-4)


def test_a_long_message_is_judged_in_windows_that_fit_the_context(recorded: Server) -> None:
    text = ("The weather is mild today and the garden needs water. " * 215)[:11_849]
    guard = LlamaGuard(backend(recorded), timeout=TIMEOUT)
    verdict = guard.check(text)  # one 16,000-character window for the guard, too big for 2,048
    assert_verdict(verdict)
    prompts = wire_prompts(recorded)
    if recorded.name == "llama_cpp.server":
        # llama-cpp-python reports its context only in the 400 for a prompt over it: the first,
        # whole prompt was refused, and the backend learned the context from that answer.
        assert len(recorded.tokenize(prompts[0])) > CONTEXT and text[-200:] in prompts[0]
        prompts = prompts[1:]
    assert len(prompts) > 1
    for prompt in prompts:  # every window fitted the served context, none was cut
        assert len(recorded.tokenize(prompt)) + 20 <= CONTEXT


def test_prefilling_llama_server_is_named_as_the_cause(prefilling: Server) -> None:
    chat = LlamaGuard(backend(prefilling, mode="chat"), timeout=TIMEOUT)
    assert_verdict(chat.check(USER), scored=False)  # a User turn ends with the user message
    with pytest.raises(ConfigurationError, match="--no-prefill-assistant"):
        chat.check(CONVERSATIONS["agent"])
    completions = LlamaGuard(backend(prefilling), timeout=TIMEOUT)
    assert_verdict(completions.check(CONVERSATIONS["agent"]))  # llamashield's prompt: exact


def test_a_model_id_that_names_no_generation_is_refused(server: Server) -> None:
    with pytest.raises(ConfigurationError, match="taxonomy="):
        OpenAICompatibleBackend(f"{server.url}/v1", "/models/guard-f32.gguf")
    named = OpenAICompatibleBackend(f"{server.url}/v1", "guard", taxonomy=LLAMA_GUARD_3)
    assert_verdict(LlamaGuard(named, timeout=TIMEOUT).check(USER))


async def test_async_checks(recorded: Server) -> None:
    guard = LlamaGuard(backend(recorded), timeout=TIMEOUT, max_concurrency=4)
    verdicts = await guard.acheck_many(list(CONVERSATIONS.values()) * 2)
    for verdict in verdicts:
        assert_verdict(verdict)
    await guard.aclose()


def test_a_gguf_without_add_bos_gets_its_one_bos_from_the_prompt(no_bos: Server) -> None:
    assert no_bos.tokenize("") == []  # this server adds no BOS to a completions prompt
    probed = backend(no_bos)
    verdict = LlamaGuard(probed, timeout=TIMEOUT).check(USER)
    assert_verdict(verdict)
    assert probed.served is not None and probed.served.bos_text == "<|begin_of_text|>"
    (prompt,) = wire_prompts(no_bos)
    tokens = no_bos.tokenize(prompt)
    assert tokens.count(BOS) == 1 and tokens[0] == BOS
    bare = prompt.removeprefix("<|begin_of_text|>")
    assert tokens == list(
        meta_tokenizer(3).encode(bare, bos=True, eos=False, allowed_special="all")
    )
