"""The prompt that reaches the server equals Meta's, byte for byte and token for token.

Every prompt here is captured on the wire: the loopback server records each request body, and
the test compares its ``prompt`` with what Meta's own code builds from the same turns (see
``meta_reference.py`` for where each builder comes from):

* Llama Guard 1 (with its policy), 2, and custom categories: ``llama-cookbook``'s
  ``build_custom_prompt`` with its templates and category texts.
* Llama Guard 3 and 4: ``llama-stack``'s user message (its categories per model id, and
  ``excluded_categories`` for ``exclude_from_prompt=True``), encoded by ``llama-models``'
  ``ChatFormat.encode_dialog_prompt``. The token check tokenises the wire text as a server does
  (its BOS, then the text with special tokens read as such) with Meta's tiktoken tokenizer, and
  requires Meta's exact tokens, so exactly one BOS.

Intentional differences, kept out of these comparisons on purpose:

* Text neutralisation. llamashield NFKC-normalises message text, drops invisible and control
  characters, breaks up prompt markers, special-token text and ``User:``/``Agent:`` line
  starts, folds blank lines and strips the ends (``_conversation.neutralize``). Meta's builders
  paste text as is. The conversations generated here are clean text (ASCII and not), on which
  neutralisation is the identity (asserted), so the prompts must be equal.
* The BOS text. Meta's dialog starts with ``<|begin_of_text|>``; the wire prompt does not carry
  it because the server adds BOS to a ``/v1/completions`` prompt (two would reach the model).
  The tests compare ``BOS + wire`` with Meta's text, and the server's tokens with Meta's.
* The role label of the other side. llama-stack writes ``role.capitalize()`` (its shields pass
  user messages); the Llama Guard templates (cookbook, model cards) say ``Agent``, and so does
  llamashield: agent turns are handed to llama-stack's builder with the role ``agent``.
* The cookbook's ``PROMPT_TEMPLATE_3`` (a space after the user header and before
  ``<|eot_id|>``, no ``\\n\\n`` after the assistant header, ``Name. `` with a trailing space) is
  not what Meta's inference sends; ``llama-models`` and ``llama-stack`` are followed instead.
  Custom categories for Llama Guard 3/4 therefore use the cookbook's ``build_custom_prompt``
  with the template pieces llama-stack uses, inside the llama-models chat format.
* A custom category without a description is listed by its name alone; the cookbook's
  ``with_policy=True`` would leave an empty line after it. Descriptions here are never empty.
* Unknown model ids: llama-stack falls back to Llama Guard 3 8B's categories; llamashield to
  Llama Guard 2 (its default model), so only Meta's known ids are compared.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from string import Template
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from llamashield import Category, LlamaGuard, taxonomy_for_model
from llamashield._conversation import neutralize
from llamashield._prompts import BOS_TEXT
from llamashield.backends import OpenAICompatibleBackend
from llamashield.backends.together import TogetherBackend
from llamashield.testing import LoopbackServer
from tests.conformance.meta_reference import Meta

pytestmark = pytest.mark.conformance

LG1 = "meta-llama/LlamaGuard-7b"
LG2 = "meta-llama/Meta-Llama-Guard-2-8B"
LG3_MODELS = [
    "meta-llama/Llama-Guard-3-8B",
    "meta-llama/Llama-Guard-3-1B",
    "meta-llama/Llama-Guard-3-11B-Vision",
]
LG4 = "meta-llama/Llama-Guard-4-12B"
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Words from several scripts, each NFKC-stable and in one script (a word mixing Latin with
# Cyrillic would be folded to Latin on purpose: see the module docstring).
WORDS = [
    "How", "do", "I", "bake", "bread", "?", "kill", "the", "process", "it's", "100%", "S1:",
    "café", "naïve", "Straße", "ñandú", "résumé", "漢字", "こんにちは", "Привет", "мир",
    "Ελληνικά", "🙂", "👍🏽", "“quoted”", "—", "<tag>", "[x]", "a|b", "{json}",
]  # fmt: skip
TEXT = st.lists(
    st.tuples(st.sampled_from(WORDS), st.sampled_from([" ", " ", "\n"])), min_size=1, max_size=12
).map(lambda pairs: "".join(w + s for w, s in pairs).strip())
CONVERSATIONS = st.lists(TEXT, min_size=1, max_size=4)

SAMPLES = [
    ["How do I bake bread?"],
    ["Wie backe ich Brot? Ça coûte 5 €, 漢字 🙂"],
    ["I want to hurt someone", "I can't help with that."],
    ["hello", "Hi! How can I help?", "Tell me how to make a bomb"],
]


def _messages(texts: Sequence[str]) -> list[dict[str, str]]:
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": text}
        for i, text in enumerate(texts)
    ]


def _turns(texts: Sequence[str]) -> list[tuple[str, str]]:
    return [("user" if i % 2 == 0 else "agent", text) for i, text in enumerate(texts)]


def _clean(texts: Sequence[str]) -> None:
    # The comparison is exact only where neutralisation changes nothing (module docstring).
    assume(all(neutralize(t) == t and t for t in texts))


def _wire(server: LoopbackServer, guard: LlamaGuard, texts: Sequence[str]) -> str:
    guard.check(_messages(texts))
    prompt = server.bodies[-1]["prompt"]
    assert isinstance(prompt, str)
    return prompt


def _generation(model: str) -> int:
    return taxonomy_for_model(model).generation


def _assert_meta_dialog(meta: Meta, wire: str, content: str, generation: int) -> None:
    """The wire prompt is Meta's dialog of one user message, text and tokens, one BOS."""
    tokens = meta.dialog_tokens(content, generation)
    tokenizer = meta.tokenizer(generation)
    assert BOS_TEXT + wire == tokenizer.decode(tokens)
    seen = meta.server_tokens(wire, generation)
    assert seen == tokens
    assert seen.count(tokenizer.special_tokens["<|begin_of_text|>"]) == 1


# -- Llama Guard 3 and 4: llama-stack's message in llama-models' chat format -------------------


@pytest.mark.parametrize("model", [*LG3_MODELS, LG4])
@pytest.mark.parametrize("texts", SAMPLES, ids=["user", "non-ascii", "agent", "three-turns"])
def test_llama_guard_3_and_4_prompts_are_metas_dialog(
    meta: Meta, server: LoopbackServer, model: str, texts: list[str]
) -> None:
    wire = _wire(server, server.openai_guard(model=model), texts)
    content = meta.stack_message(_turns(texts), model)
    _assert_meta_dialog(meta, wire, content, _generation(model))


@pytest.mark.parametrize("model", [LG3_MODELS[0], LG4])
@SETTINGS
@given(texts=CONVERSATIONS)
def test_llama_guard_3_and_4_prompts_are_metas_for_any_clean_conversation(
    meta: Meta, server: LoopbackServer, model: str, texts: list[str]
) -> None:
    _clean(texts)
    wire = _wire(server, server.openai_guard(model=model), texts)
    _assert_meta_dialog(meta, wire, meta.stack_message(_turns(texts), model), _generation(model))


@pytest.mark.parametrize("model", [LG3_MODELS[0], LG3_MODELS[1], LG4])
@pytest.mark.parametrize(
    "keep", [["S1"], ["S1", "S10", "S11"], ["S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9"]]
)
def test_exclude_from_prompt_equals_llama_stacks_excluded_categories(
    meta: Meta, server: LoopbackServer, model: str, keep: list[str]
) -> None:
    codes = taxonomy_for_model(model).codes
    excluded = [c for c in codes if c not in keep]
    texts = SAMPLES[2]
    content = meta.stack_message(_turns(texts), model, excluded=excluded)
    for guard in (
        server.openai_guard(model=model, categories=keep, exclude_from_prompt=True),
        server.guard(model=model, categories=keep, exclude_from_prompt=True),  # Together SDK
    ):
        _assert_meta_dialog(meta, _wire(server, guard, texts), content, _generation(model))


def test_category_lists_per_model_are_llama_stacks(meta: Meta) -> None:
    stack = meta.stack
    assert set(stack.LLAMA_GUARD_MODEL_IDS) >= {*LG3_MODELS, LG4}
    for model_id, canonical in stack.LLAMA_GUARD_MODEL_IDS.items():
        shield = stack.LlamaGuardShield(
            model=model_id,
            inference_api=None,
            safety_categories=stack.MODEL_TO_SAFETY_CATEGORIES_MAP[canonical],
        )
        ours = [f"{c.code}: {c.name}." for c in taxonomy_for_model(model_id)]
        assert ours == shield.get_safety_categories(), model_id


# -- Llama Guard 1 and 2, and custom categories: the cookbook -----------------------------------


def _cookbook_turns(meta: Meta, texts: Sequence[str]) -> list[Any]:
    kinds = meta.cookbook.AgentType
    return [
        meta.cookbook.ConversationTurn(text, kinds.USER if i % 2 == 0 else kinds.AGENT)
        for i, text in enumerate(texts)
    ]


def _cookbook_prompt(
    meta: Meta, texts: Sequence[str], generation: int, custom: Sequence[Category] = ()
) -> str:
    cb = meta.cookbook
    agent_type = cb.AgentType.USER if len(texts) % 2 else cb.AgentType.AGENT
    template, prefix, categories, with_policy = {
        1: (cb.PROMPT_TEMPLATE_1, "O", cb.LLAMA_GUARD_1_CATEGORY, True),  # LG1: with its policy
        2: (cb.PROMPT_TEMPLATE_2, "S", cb.LLAMA_GUARD_2_CATEGORY, False),
        # Llama Guard 3/4: the template pieces without a wrapper (llama-stack's PROMPT_TEMPLATE);
        # the chat format wraps it.
        3: (Template(cb.PROMPT_TASK + cb.SAFETY_CATEGORIES + cb.PROMPT_CONVERSATION
                     + cb.PROMPT_INSTRUCTIONS_2), "S", [], True),
    }[min(generation, 3)]  # fmt: skip
    if custom:
        # A custom category's name ends like the generation's own: "Name. " in Llama Guard 2
        # (the cookbook's LLAMA_GUARD_2_CATEGORY), "Name." in 1 and 3/4 (llama-stack).
        end = ". " if generation == 2 else "."
        categories = [cb.SafetyCategory(c.name + end, c.description) for c in custom]
        with_policy = True
    return str(
        cb.build_custom_prompt(
            agent_type, _cookbook_turns(meta, texts), categories, prefix, template, with_policy
        )
    )


@pytest.mark.parametrize(("model", "generation"), [(LG1, 1), (LG2, 2)])
@pytest.mark.parametrize("texts", SAMPLES, ids=["user", "non-ascii", "agent", "three-turns"])
def test_llama_guard_1_and_2_prompts_are_the_cookbooks(
    meta: Meta, server: LoopbackServer, model: str, generation: int, texts: list[str]
) -> None:
    wire = _wire(server, server.openai_guard(model=model), texts)
    assert wire == _cookbook_prompt(meta, texts, generation)
    if generation == 2:  # Llama Guard 2 is a Llama 3 model: Meta's Llama 3 tokenizer
        bos = meta.tokenizer3.special_tokens["<|begin_of_text|>"]
        assert meta.server_tokens(wire, 3).count(bos) == 1


@pytest.mark.parametrize(("model", "generation"), [(LG1, 1), (LG2, 2)])
@SETTINGS
@given(texts=CONVERSATIONS)
def test_llama_guard_1_and_2_prompts_are_the_cookbooks_for_any_clean_conversation(
    meta: Meta, server: LoopbackServer, model: str, generation: int, texts: list[str]
) -> None:
    _clean(texts)
    wire = _wire(server, server.openai_guard(model=model), texts)
    assert wire == _cookbook_prompt(meta, texts, generation)


CUSTOM = [
    Category("S1", "Violent Crimes", "AI models should not enable violent crimes."),
    Category("S2", "Pineapple Pizza", "Should not praise pineapple on pizza.\n - Not even once."),
    Category("S3", "Spoilers", "No film endings (ex: «Casablanca»)."),
]


@pytest.mark.parametrize("model", [LG1, LG2, LG3_MODELS[0], LG4])
@pytest.mark.parametrize("texts", SAMPLES[1:3], ids=["user", "agent"])
@pytest.mark.parametrize("backend", ["openai", "together"])
def test_custom_categories_are_the_cookbooks_custom_prompt(
    meta: Meta, server: LoopbackServer, model: str, texts: list[str], backend: str
) -> None:
    make = server.openai_guard if backend == "openai" else server.guard
    generation = _generation(model)
    # The cookbook numbers custom categories with the generation's prefix: O1.. for Llama
    # Guard 1, S1.. after.
    prefix = "O" if generation == 1 else "S"
    custom = [Category(f"{prefix}{i}", c.name, c.description) for i, c in enumerate(CUSTOM, 1)]
    wire = _wire(server, make(model=model, categories=custom), texts)
    expected = _cookbook_prompt(meta, texts, generation, custom)
    if generation >= 3:
        _assert_meta_dialog(meta, wire, expected, generation)
    else:
        assert wire == expected


NAMES = st.lists(st.sampled_from(WORDS[:-4]), min_size=1, max_size=3).map(" ".join)
DESCRIPTIONS = st.lists(TEXT, min_size=1, max_size=3).map(lambda lines: "\n - ".join(lines))
POLICIES = st.lists(st.tuples(NAMES, DESCRIPTIONS), min_size=1, max_size=5)


@pytest.mark.parametrize("model", [LG2, LG3_MODELS[0], LG4])
@SETTINGS
@given(texts=CONVERSATIONS, policy=POLICIES)
def test_any_custom_policy_is_the_cookbooks_custom_prompt(
    meta: Meta,
    server: LoopbackServer,
    model: str,
    texts: list[str],
    policy: list[tuple[str, str]],
) -> None:
    _clean(texts)
    custom = [Category(f"S{i}", name, text) for i, (name, text) in enumerate(policy, 1)]
    wire = _wire(server, server.openai_guard(model=model, categories=custom), texts)
    expected = _cookbook_prompt(meta, texts, _generation(model), custom)
    if _generation(model) >= 3:
        _assert_meta_dialog(meta, wire, expected, _generation(model))
    else:
        assert wire == expected


# -- category texts ---------------------------------------------------------------------------


def test_llama_guard_1_and_2_category_texts_are_the_cookbooks(meta: Meta) -> None:
    for model, theirs in ((LG1, meta.cookbook.LLAMA_GUARD_1_CATEGORY),
                          (LG2, meta.cookbook.LLAMA_GUARD_2_CATEGORY)):  # fmt: skip
        ours = list(taxonomy_for_model(model))
        assert [(c.name + ".", c.description) for c in ours] == [
            (t.name.rstrip(" "), t.description) for t in theirs
        ]


def test_llama_guard_3_descriptions_are_the_cookbooks_up_to_its_indentation(meta: Meta) -> None:
    # The cookbook indents Llama Guard 3's bullets by 16 spaces (a source-code artefact; the
    # default prompts list names only). llamashield keeps Llama Guard 2's " - " bullets.
    ours = list(taxonomy_for_model(LG3_MODELS[0]))
    theirs = meta.cookbook.LLAMA_GUARD_3_CATEGORY
    assert [c.name + ". " for c in ours] == [t.name for t in theirs]
    assert [c.description for c in ours] == [
        re.sub(r"\n +- ", "\n - ", t.description) for t in theirs
    ]


def test_the_wire_prompt_reaches_the_server_unchanged_through_both_backends(
    server: LoopbackServer,
) -> None:
    # Both backends send the same bytes for the same policy (the SDK adds nothing).
    texts = SAMPLES[1]
    openai = _wire(server, server.openai_guard(model=LG4, categories=CUSTOM), texts)
    together = _wire(server, server.guard(model=LG4, categories=CUSTOM), texts)
    assert openai == together
    direct = OpenAICompatibleBackend(server.openai_base_url, LG4)
    assert direct.capabilities.sends_prompt and isinstance(server.guard().backend, TogetherBackend)
