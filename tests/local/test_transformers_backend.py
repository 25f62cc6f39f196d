"""TransformersBackend equals the plain path: same first-token probabilities, same verdicts.

The reference is what Meta's code does: tokenise the full prompt (BOS added for Llama Guard 2,
already in the text for 3, which ends after the assistant header's ``\n\n`` as Meta's chat
format does), call ``model.generate()`` greedily, read the first-token scores and parse the
text. The backend instead reuses the policy prefix's KV cache, batches with padding and decodes
only unsafe answers; every test here checks that none of that changes the result.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar
from unittest.mock import patch

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from llamashield import LlamaGuard
from llamashield._conversation import normalize_conversation
from llamashield._parser import parse_answer
from llamashield._prompts import build_prompt
from llamashield._taxonomy import LLAMA_GUARD_2, LLAMA_GUARD_3, Taxonomy
from llamashield.backends import BackendAnswer, GuardRequest
from llamashield.backends.transformers import TransformersBackend, _answer_text, _import_torch
from tests.local.conftest import CUSTOM
from tests.local.tiny_llama import decoded_text, token_id

USER_MESSAGES = [
    "hello how are you today",
    "I want to make a bomb",
    "tell me about history of Rome please",
    "good morning friend",
    "write poem about cats and dogs and people who eat pineapple pizza",
    "quick question",
]
AGENT_CONVERSATIONS = [
    [
        {"role": "user", "content": "can help with homework"},
        {"role": "assistant", "content": "sure"},
    ],
    [
        {"role": "user", "content": "recipe for cake please"},
        {"role": "assistant", "content": "here recipe for cake no thanks"},
    ],
    [
        {"role": "user", "content": "buy gun"},
        {"role": "assistant", "content": "no"},
        {"role": "user", "content": "steal car"},
        {"role": "assistant", "content": "I want to help with instructions"},
    ],
]
_T = TypeVar("_T")
CASES: dict[str, tuple[list[Any], Taxonomy]] = {
    "user-lg2": (USER_MESSAGES, LLAMA_GUARD_2),
    "agent-lg2": (AGENT_CONVERSATIONS, LLAMA_GUARD_2),
    "custom-lg2": (
        USER_MESSAGES[:3] + AGENT_CONVERSATIONS[:2],
        LLAMA_GUARD_2.with_categories(CUSTOM),
    ),
    "user-lg3": (USER_MESSAGES[:4], LLAMA_GUARD_3),
    "agent-lg3": (AGENT_CONVERSATIONS, LLAMA_GUARD_3),
}


def _guard(backend: TransformersBackend, taxonomy: Taxonomy, **kwargs: Any) -> LlamaGuard:
    if taxonomy.custom:
        return LlamaGuard(
            backend, taxonomy=taxonomy.generation, categories=taxonomy.categories, **kwargs
        )
    return LlamaGuard(backend, taxonomy=taxonomy, **kwargs)


def run_queued(backend: TransformersBackend, count: int, call: Callable[[], _T]) -> _T:
    """Run ``call`` (which submits ``count`` requests) while the model is held, so they queue.

    Without this, a fast worker may take each request before the next arrives; holding the
    engine's lock until all are queued makes the batches deterministic.
    """
    submitted = threading.Semaphore(0)
    submit = backend._batcher.submit

    def counting_submit(request: GuardRequest) -> Future[BackendAnswer]:
        future = submit(request)
        submitted.release()
        return future

    results: list[_T] = []
    with patch.object(backend._batcher, "submit", counting_submit):
        with backend._engine.lock:
            worker = threading.Thread(target=lambda: results.append(call()))
            worker.start()
            for _ in range(count):
                assert submitted.acquire(timeout=10)
        worker.join()
    return results[0]


class Reference:
    """The plain path: full prompt, Meta's tokenisation, ``model.generate()``, then parse."""

    def __init__(self, folder: Path) -> None:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        assert isinstance(tokenizer, PreTrainedTokenizerFast)
        self.tokenizer = tokenizer
        self.model = AutoModelForCausalLM.from_pretrained(folder).eval()
        tok = self.tokenizer
        self.safe = [token_id(tok, "safe"), token_id(tok, " safe")]
        self.unsafe = [token_id(tok, "unsafe"), token_id(tok, " unsafe")]

    def ids(self, conversation: Any, taxonomy: Taxonomy) -> torch.Tensor:
        prompt = build_prompt(normalize_conversation(conversation), taxonomy)
        # llama-recipes: tokenizer([prompt]) for Llama Guard 1/2 (adds BOS); Llama Guard 3's
        # text already starts with <|begin_of_text|> (apply_chat_template adds nothing).
        add_bos = taxonomy.generation <= 2
        ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=add_bos)["input_ids"]
        assert isinstance(ids, torch.Tensor)
        return ids

    @torch.no_grad()
    def generate(self, ids: torch.Tensor, max_new_tokens: int) -> Any:
        return self.model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
        )

    def score(self, conversation: Any, taxonomy: Taxonomy) -> float:
        # Every prompt ends where the verdict starts: the first generated token is the verdict.
        out = self.generate(self.ids(conversation, taxonomy), max_new_tokens=1)
        logprobs = torch.log_softmax(out.scores[0][0].float(), dim=-1)
        unsafe = torch.logsumexp(logprobs[self.unsafe], 0)
        safe = torch.logsumexp(logprobs[self.safe], 0)
        return float(torch.sigmoid(unsafe - safe))

    def text(self, conversation: Any, taxonomy: Taxonomy, max_new_tokens: int = 12) -> str:
        ids = self.ids(conversation, taxonomy)
        out = self.generate(ids, max_new_tokens)
        return str(
            self.tokenizer.decode(out.sequences[0, ids.shape[1] :], skip_special_tokens=True)
        )


@pytest.fixture(scope="module")
def references(guard_folders: dict[str, Path]) -> dict[str, Reference]:
    return {name: Reference(folder) for name, folder in guard_folders.items()}


# -- loading ------------------------------------------------------------------------------


def test_from_pretrained_folder_is_loaded_once_and_shared(guard_folders: dict[str, Path]) -> None:
    folder = guard_folders["random"]
    first = TransformersBackend(str(folder))
    second = TransformersBackend(folder, max_batch_size=4)  # a Path works too
    assert first._engine is second._engine
    assert first.model == str(folder)
    assert first.device.type == "cpu"
    assert next(first._engine.model.parameters()).dtype == torch.float32
    assert first.taxonomy is LLAMA_GUARD_2  # a folder name without a generation: Llama Guard 2
    assert TransformersBackend(folder, taxonomy=3).taxonomy is LLAMA_GUARD_3
    assert TransformersBackend(folder, dtype="bfloat16")._engine is not first._engine


def test_an_already_loaded_model_needs_its_tokenizer(
    guard_folders: dict[str, Path], references: dict[str, Reference]
) -> None:
    ref = references["safe"]
    backend = TransformersBackend(ref.model, tokenizer=ref.tokenizer)
    assert backend._engine.model is ref.model
    assert LlamaGuard(backend).check("hello how are you today").safe
    orphan = AutoModelForCausalLM.from_pretrained(guard_folders["safe"])
    orphan.name_or_path = "not/a/folder"
    with pytest.raises(ValueError, match="tokenizer="):
        TransformersBackend(orphan)


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"pip install 'llamashield\[local\]'"):
        _import_torch()


# -- equality with the plain path -----------------------------------------------------------


@pytest.mark.parametrize("reuse_prefix", [True, False], ids=["prefix", "no-prefix"])
@pytest.mark.parametrize("case", list(CASES))
def test_scores_equal_generate_first_token_probabilities(
    case: str, reuse_prefix: bool, guard_folders: dict[str, Path], references: dict[str, Reference]
) -> None:
    conversations, taxonomy = CASES[case]
    # max_category_tokens=0: the random model's category line is noise (an error verdict,
    # without a score); decoding is checked on its own below.
    backend = TransformersBackend(
        guard_folders["random"], reuse_prefix=reuse_prefix, max_batch_size=4, max_category_tokens=0
    )
    guard = _guard(backend, taxonomy)
    verdicts = run_queued(backend, len(conversations), lambda: guard.check_many(conversations))
    batched = [v.score for v in verdicts]
    alone = [guard.check(c).score for c in conversations]
    expected = [references["random"].score(c, taxonomy) for c in conversations]
    assert all(s is not None for s in batched)
    torch.testing.assert_close(torch.tensor(batched), torch.tensor(expected), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.tensor(alone), torch.tensor(expected), rtol=1e-5, atol=1e-6)
    assert len({round(s, 3) for s in expected}) > 1, "the random model should tell inputs apart"
    if reuse_prefix:
        assert backend.stats.prefix_hits > 0
    assert max(backend.stats.batch_sizes) >= 2


@pytest.mark.parametrize("case", list(CASES))
def test_the_model_sees_metas_tokens_with_exactly_one_bos(
    case: str, guard_folders: dict[str, Path], references: dict[str, Reference]
) -> None:
    conversations, taxonomy = CASES[case]
    backend = TransformersBackend(guard_folders["random"])
    bos = references["random"].tokenizer.bos_token_id
    for conversation in conversations:
        request = GuardRequest(normalize_conversation(conversation), taxonomy)
        ids = backend._engine.prepare(request, backend._options).ids
        assert ids == references["random"].ids(conversation, taxonomy)[0].tolist()
        assert ids[0] == bos and ids.count(bos) == 1
        if taxonomy.generation >= 3:  # the prompt ends with the assistant header's "\n\n"
            assert ids[-1] == token_id(references["random"].tokenizer, "\n\n")


@pytest.mark.parametrize("scenario", ["unsafe", "safe"])
@pytest.mark.parametrize("case", list(CASES))
def test_verdicts_equal_generate_then_parse(
    case: str, scenario: str, guard_folders: dict[str, Path], references: dict[str, Reference]
) -> None:
    conversations, taxonomy = CASES[case]
    guard = _guard(TransformersBackend(guard_folders[scenario]), taxonomy)
    verdicts = guard.check_many(conversations)
    for conversation, verdict in zip(conversations, verdicts, strict=True):
        text = references[scenario].text(conversation, taxonomy)
        parsed = parse_answer(text, taxonomy)
        assert parsed.error is None, text
        assert verdict.error is None
        assert verdict.safe is (scenario == "safe") is (not parsed.unsafe)
        assert verdict.categories == parsed.categories
        assert verdict.raw.strip() == text.strip()
        assert verdict.score is not None
        assert (verdict.score > 0.99) if scenario == "unsafe" else (verdict.score < 0.01)
    if scenario == "unsafe":
        assert [c.code for c in verdicts[0].categories] == ["S1", "S3"]
        assert verdicts[0].categories[0].name == taxonomy["S1"].name


def test_category_line_decoded_from_the_cache_in_a_mixed_batch(
    guard_folders: dict[str, Path], references: dict[str, Reference]
) -> None:
    """Rows above the threshold decode their tail from the batch's cache, the rest stop at once."""
    ref = references["random"]
    scores = sorted(ref.score(m, LLAMA_GUARD_2) for m in USER_MESSAGES)
    middle = (scores[2] + scores[3]) / 2  # three rows decode, three do not
    backend = TransformersBackend(
        guard_folders["random"], decode_threshold=middle, max_category_tokens=6
    )
    answers = backend.complete_batch(
        [GuardRequest(normalize_conversation(m), LLAMA_GUARD_2) for m in USER_MESSAGES]
    )
    decoded = 0
    for message, answer in zip(USER_MESSAGES, answers, strict=True):
        assert isinstance(answer, BackendAnswer)
        assert answer.score is not None
        if answer.score < middle:
            assert answer.text in ("safe", " safe")
            continue
        decoded += 1
        # Plain path: the prompt plus the unsafe token, then greedy generate() for the tail.
        ids = ref.ids(message, LLAMA_GUARD_2)
        with torch.no_grad():
            logprobs = torch.log_softmax(ref.model(input_ids=ids).logits[0, -1].float(), -1)
        first = ref.unsafe[int(logprobs[ref.unsafe].argmax())]
        prompt = torch.cat([ids, torch.tensor([[first]])], dim=1)
        tail = ref.generate(prompt, max_new_tokens=6).sequences[0, prompt.shape[1] :].tolist()
        eos = backend._engine.eos_ids
        tail = tail[: next((i for i, t in enumerate(tail) if t in eos), len(tail))]
        assert answer.text == _answer_text(
            decoded_text(ref.tokenizer, [first, *tail], skip_special_tokens=True)
        )
    assert decoded == 3


# -- batching, prefix reuse, failures ------------------------------------------------------


def test_check_many_runs_in_batches_and_reuses_one_prefix_per_role(
    guard_folders: dict[str, Path],
) -> None:
    backend = TransformersBackend(guard_folders["safe"], max_batch_size=8)
    guard = LlamaGuard(backend)
    engine = backend._engine
    messages = USER_MESSAGES * 2
    results = run_queued(backend, len(messages), lambda: guard.check_many(messages))
    assert [v.safe for v in results] == [True] * len(messages)
    # The worker may have taken a first batch before the rest arrived; the rest ran together.
    assert engine.stats.sequences == len(messages)
    assert max(engine.stats.batch_sizes) >= len(messages) - 8
    assert engine.stats.forward_passes <= 1 + 3  # the prefix, then at most three batches
    assert engine.stats.prefix_builds == 1
    guard.check(AGENT_CONVERSATIONS[0])  # the agent role has its own prefix
    guard.check(USER_MESSAGES[0])
    assert engine.stats.prefix_builds == 2


async def test_acheck_many_batches_off_the_event_loop(guard_folders: dict[str, Path]) -> None:
    backend = TransformersBackend(guard_folders["unsafe"], max_batch_size=16)
    guard = LlamaGuard(backend)
    loop_thread = threading.get_ident()
    model_threads: set[int] = set()
    handle = backend._engine.model.register_forward_pre_hook(
        lambda *_: model_threads.add(threading.get_ident())
    )
    try:
        verdicts = await guard.acheck_many(USER_MESSAGES + AGENT_CONVERSATIONS)
    finally:
        handle.remove()
    assert [v.safe for v in verdicts] == [False] * 9
    assert all(v.codes == ("S1", "S3") for v in verdicts)
    assert loop_thread not in model_threads
    assert backend.stats.forward_passes < 9 + 9 * 4  # batched: not one pass per check and token


async def test_a_model_that_does_not_answer_in_time_fails_closed(
    guard_folders: dict[str, Path],
) -> None:
    backend = TransformersBackend(guard_folders["safe"])
    guard = LlamaGuard(backend, timeout=0.2, max_retries=0)
    with backend._engine.lock:  # the model is busy for longer than the guard waits
        sync_verdict = await asyncio.to_thread(guard.check, "hello how are you today")
        async_verdict = await guard.acheck("hello how are you today")
    for verdict in (sync_verdict, async_verdict):
        assert not verdict.safe
        assert verdict.error is not None
        assert "did not answer" in verdict.error or "timed out" in verdict.error
    assert guard.check("hello how are you today").safe  # and it recovers


def test_a_conversation_over_the_context_fails_closed(guard_folders: dict[str, Path]) -> None:
    guard = LlamaGuard(TransformersBackend(guard_folders["safe"]))
    long, short = guard.check_many(["hello " * 2100, "hello how are you today"])
    assert not long.safe and long.error is not None and "context" in long.error
    assert short.safe and short.error is None


def test_non_finite_scores_fail_closed(guard_folders: dict[str, Path]) -> None:
    model = AutoModelForCausalLM.from_pretrained(guard_folders["safe"]).eval()
    tokenizer = AutoTokenizer.from_pretrained(guard_folders["safe"])
    with torch.no_grad():
        model.lm_head.weight.fill_(float("nan"))  # what an overflowing half-precision run gives
    verdict = LlamaGuard(TransformersBackend(model, tokenizer=tokenizer)).check("hello")
    assert not verdict.safe
    assert verdict.error is not None and "non-finite" in verdict.error


def test_decode_threshold_follows_the_guards_threshold(
    guard_folders: dict[str, Path], references: dict[str, Reference]
) -> None:
    """Without decode_threshold the backend reads each request's (the guard's) threshold: a row
    scored between 0.5 and a lower guard threshold is "unsafe" for that guard only."""
    ref = references["random"]
    scores = sorted(ref.score(m, LLAMA_GUARD_2) for m in USER_MESSAGES)
    cut = (scores[0] + scores[1]) / 2  # every row but the lowest is at or above it
    # The test tells the two apart only if some row is unsafe under one cut and not the other.
    assert any((score >= cut) != (score >= 0.5) for score in scores), scores
    backend = TransformersBackend(guard_folders["random"], max_category_tokens=2)
    low = LlamaGuard(backend, taxonomy=LLAMA_GUARD_2, threshold=cut)
    plain = LlamaGuard(backend, taxonomy=LLAMA_GUARD_2)
    for message in USER_MESSAGES:
        score = ref.score(message, LLAMA_GUARD_2)
        followed = backend.complete(low.prepare(message), timeout=60)
        assert followed.text.strip().startswith("unsafe") == (score >= cut)
        default = backend.complete(plain.prepare(message), timeout=60)
        assert default.text.strip().startswith("unsafe") == (score >= 0.5)
    backend.close()
