"""``OllamaBackend`` puts Meta's prompt on the wire, byte for byte, raw, with one BOS.

The Ollama stand-in (``LoopbackServer(engine="ollama")``) records each ``/api/generate`` body;
the prompt in it must be exactly what Meta's builders make from the same turns (the cookbook
for Llama Guard 1, 2 and custom categories; llama-stack's message in llama-models' chat format
for 3 and 4, less the ``<|begin_of_text|>`` text that Ollama's tokenizer adds as a token), sent
with ``"raw": true`` so Ollama's template never touches it. See test_meta_prompts.py for the
builders and the intentional differences.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given

from llamashield import Category, LlamaGuard, taxonomy_for_model
from llamashield.testing import LoopbackServer
from tests.conformance.meta_reference import Meta
from tests.conformance.test_meta_prompts import (
    CONVERSATIONS,
    CUSTOM,
    LG1,
    LG2,
    LG3_MODELS,
    LG4,
    SAMPLES,
    SETTINGS,
    _assert_meta_dialog,
    _clean,
    _cookbook_prompt,
    _generation,
    _messages,
    _turns,
)

pytestmark = pytest.mark.conformance

IDS = ["user", "non-ascii", "agent", "three-turns"]


@pytest.fixture(scope="module")
def ollama() -> Iterator[LoopbackServer]:
    with LoopbackServer(engine="ollama") as running:
        yield running


def _wire(server: LoopbackServer, guard: LlamaGuard, texts: Sequence[str]) -> dict[str, Any]:
    guard.check(_messages(texts))
    body = server.bodies[-1]
    assert body["raw"] is True  # Ollama's template is never applied
    assert "template" not in body and "system" not in body and "context" not in body
    assert server.ollama.rendered[-1].raw
    assert server.ollama.rendered[-1].bos == 1  # the tokenizer's BOS, and no BOS text
    return body


@pytest.mark.parametrize("model", [*LG3_MODELS, LG4])
@pytest.mark.parametrize("texts", SAMPLES, ids=IDS)
def test_llama_guard_3_and_4_prompts_are_metas_dialog(
    meta: Meta, ollama: LoopbackServer, model: str, texts: list[str]
) -> None:
    body = _wire(ollama, ollama.ollama_guard(model=model), texts)
    content = meta.stack_message(_turns(texts), model)
    _assert_meta_dialog(meta, body["prompt"], content, _generation(model))


@pytest.mark.parametrize(("model", "generation"), [(LG1, 1), (LG2, 2)])
@pytest.mark.parametrize("texts", SAMPLES, ids=IDS)
def test_llama_guard_1_and_2_prompts_are_the_cookbooks(
    meta: Meta, ollama: LoopbackServer, model: str, generation: int, texts: list[str]
) -> None:
    body = _wire(ollama, ollama.ollama_guard(model=model), texts)
    assert body["prompt"] == _cookbook_prompt(meta, texts, generation)


@pytest.mark.parametrize("model", [LG1, LG2, LG3_MODELS[0], LG4])
@pytest.mark.parametrize("texts", SAMPLES[1:3], ids=["user", "agent"])
def test_custom_categories_are_the_cookbooks_custom_prompt(
    meta: Meta, ollama: LoopbackServer, model: str, texts: list[str]
) -> None:
    generation = _generation(model)
    prefix = "O" if generation == 1 else "S"  # the cookbook numbers them like the generation
    custom = [Category(f"{prefix}{i}", c.name, c.description) for i, c in enumerate(CUSTOM, 1)]
    body = _wire(ollama, ollama.ollama_guard(model=model, categories=custom), texts)
    expected = _cookbook_prompt(meta, texts, generation, custom)
    if generation >= 3:  # the cookbook's pieces inside Meta's chat format
        _assert_meta_dialog(meta, body["prompt"], expected, generation)
    else:
        assert body["prompt"] == expected


@pytest.mark.parametrize("model", [LG3_MODELS[0], LG4])
def test_exclude_from_prompt_equals_llama_stacks_excluded_categories(
    meta: Meta, ollama: LoopbackServer, model: str
) -> None:
    keep = ["S1", "S10", "S11"]
    excluded = [c for c in taxonomy_for_model(model).codes if c not in keep]
    guard = ollama.ollama_guard(model=model, categories=keep, exclude_from_prompt=True)
    body = _wire(ollama, guard, SAMPLES[2])
    content = meta.stack_message(_turns(SAMPLES[2]), model, excluded=excluded)
    _assert_meta_dialog(meta, body["prompt"], content, _generation(model))


@pytest.mark.parametrize("model", [LG3_MODELS[0], LG4])
@SETTINGS
@given(texts=CONVERSATIONS)
def test_any_clean_conversation_is_metas_dialog_on_ollama(
    meta: Meta, ollama: LoopbackServer, model: str, texts: list[str]
) -> None:
    _clean(texts)
    body = _wire(ollama, ollama.ollama_guard(model=model), texts)
    content = meta.stack_message(_turns(texts), model)
    _assert_meta_dialog(meta, body["prompt"], content, _generation(model))
