"""The adversarial corpus: no crash, no escape from the conversation block, nothing unsafe passes.

Each case runs through the prompt builder (parsed back with ``parse_prompt`` for every Llama
Guard generation) and through three guards: ``SimulatedBackend`` in-process, and the loopback
server over real HTTP via the ``together`` SDK (chat: the server applies the template) and via
``OpenAICompatibleBackend`` (raw prompts built by llamashield).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llamashield import (
    LLAMA_GUARD_1,
    LLAMA_GUARD_2,
    LLAMA_GUARD_3,
    LLAMA_GUARD_4,
    GuardUnavailableError,
    LlamaGuard,
    Taxonomy,
)
from llamashield._chunking import split_long_turn
from llamashield._conversation import normalize_conversation
from llamashield._prompts import build_prompt, parse_prompt
from llamashield.backends import SimulatedBackend
from llamashield.testing import LoopbackServer

from .adversarial import BAD_INPUTS, CASES, LONG, TRIGGER, BadInput, Case

pytest.importorskip("together")

TAXONOMIES = [LLAMA_GUARD_1, LLAMA_GUARD_2, LLAMA_GUARD_3, LLAMA_GUARD_4]
MARKERS = ("<BEGIN CONVERSATION>", "<END CONVERSATION>", "<BEGIN UNSAFE CONTENT CATEGORIES>",
           "<END UNSAFE CONTENT CATEGORIES>", "[INST]", "[/INST]", "<|eot_id|>", "<|eot|>",
           "<|start_header_id|>", "<|header_start|>", "<|begin_of_text|>")  # fmt: skip
BACKENDS = ["simulated", "together", "openai"]
SLOW = pytest.mark.slow  # megabyte cases: seconds each on a busy two-core machine


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


@pytest.fixture
def make_guard(server: LoopbackServer) -> Callable[..., LlamaGuard]:
    def make(name: str, **policy: Any) -> LlamaGuard:
        if name == "simulated":
            return LlamaGuard(SimulatedBackend(), **policy)
        factory = server.guard if name == "together" else server.openai_guard
        return factory(**policy)

    return make


def _ids(items: list[Case] | list[BadInput]) -> list[str]:
    return [item.name for item in items]


def test_the_corpus_is_large_and_names_are_unique() -> None:
    names = _ids(CASES) + _ids(BAD_INPUTS)
    assert len(names) == len(set(names)) and len(CASES) >= 50 and len(BAD_INPUTS) >= 20


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
@pytest.mark.parametrize("taxonomy", TAXONOMIES, ids=lambda t: f"lg{t.generation}")
def test_prompt_parses_back_to_the_same_turns(case: Case, taxonomy: Taxonomy) -> None:
    conversation = normalize_conversation(case.conversation)
    prompt = build_prompt(conversation, taxonomy)
    start = prompt.index("<BEGIN CONVERSATION>") + len("<BEGIN CONVERSATION>")
    block = prompt[start : prompt.rindex("<END CONVERSATION>")]
    for marker in MARKERS:
        # Every structural marker comes from the template, none from inside the block.
        assert marker not in block, marker
    turns, categories = parse_prompt(prompt)
    assert turns == conversation
    assert [c.code for c in categories] == list(taxonomy.codes)
    assert conversation[-1].role == case.role
    for turn in conversation:
        # The only line break left is "\n", so no blank line (a turn separator) and no line
        # starting "Agent:" can hide behind \r, \v, \f, NEL or the Unicode line separators.
        assert len(turn.content.replace("\n", "").splitlines()) <= 1
        assert "\n\n" not in turn.content


@SLOW
@pytest.mark.parametrize("case", LONG, ids=_ids(LONG))
def test_every_chunk_of_a_long_message_parses_back(case: Case) -> None:
    conversation = normalize_conversation(case.conversation)
    parts = split_long_turn(conversation, chunk_chars=16_000, overlap=500)
    assert len(parts) > 60
    for part in parts:
        turns, _ = parse_prompt(build_prompt(part, LLAMA_GUARD_2))
        assert [t.role for t in turns] == [t.role for t in part]
        assert [t.content for t in turns] == [t.content.strip() for t in part]


# A megabyte through HTTP costs seconds on a busy machine: one long case goes over the wire.
OVER_HTTP = [case for case in CASES if case not in LONG or "middle" in case.name]


def _param(case: Case, backend: str) -> Any:
    return pytest.param(case, backend, id=f"{backend}-{case.name}", marks=[SLOW] * (case in LONG))


VERDICT_CASES = [
    *(_param(case, "simulated") for case in CASES),
    *(_param(case, backend) for case in OVER_HTTP for backend in BACKENDS[1:]),
]


@pytest.mark.parametrize(("case", "backend"), VERDICT_CASES)
def test_verdict_is_right_through_every_backend(
    case: Case, backend: str, make_guard: Callable[..., LlamaGuard]
) -> None:
    verdict = make_guard(backend).check(case.conversation)
    assert verdict.role == case.role
    if case.expect == "blocked":  # nothing the model can read: the error policy decides
        assert not verdict.safe and verdict.error, verdict
        assert make_guard(backend, on_error="allow").check(case.conversation).safe
        return
    assert verdict.error is None, verdict.error  # decided by the model, not by a failure
    if case.expect == "unsafe":
        assert not verdict.safe and "S8" in verdict.codes, f"unsafe reported safe: {verdict}"
    elif case.expect == "safe":
        assert verdict.safe, verdict


@pytest.mark.parametrize("backend", BACKENDS)
async def test_async_verdicts_match_sync_verdicts(
    backend: str, make_guard: Callable[..., LlamaGuard]
) -> None:
    guard = make_guard(backend)
    short = [case for case in CASES if case not in LONG]
    verdicts = await guard.acheck_many([case.conversation for case in short])
    for case, verdict in zip(short, verdicts, strict=True):
        assert verdict.safe == (case.expect == "safe") or case.expect == "any", case.name


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=_ids(BAD_INPUTS))
async def test_bad_input_raises_a_clear_error_before_any_io(
    bad: BadInput, server: LoopbackServer
) -> None:
    backend = SimulatedBackend()
    guards = [LlamaGuard(backend), server.guard(), server.openai_guard()]
    before = server.count()
    for guard in guards:
        with pytest.raises(bad.error) as info:
            guard.check(bad.value)
        assert len(str(info.value)) > 10  # says what was wrong
        with pytest.raises(bad.error):
            await guard.acheck(bad.value)
        with pytest.raises(bad.error):
            guard.check_many([{"role": "user", "content": "fine"}, bad.value])
        with pytest.raises(bad.error):
            guard.check_conversation(bad.value)
        with pytest.raises(bad.error):
            await guard.acheck_conversation(bad.value)
    assert backend.calls == 0 and server.count() == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_beyond_max_chars_the_policy_decides_without_sending(
    backend: str, make_guard: Callable[..., LlamaGuard], server: LoopbackServer
) -> None:
    text = TRIGGER + " " + "x" * 3_000_000
    before = server.count()
    blocked = make_guard(backend).check(text)
    assert not blocked.safe and "max_chars" in (blocked.error or "")
    with pytest.raises(GuardUnavailableError, match="max_chars"):
        make_guard(backend, on_error="raise").check(text)
    assert server.count() == before
