"""Taxonomies of each generation, and picking one from a model id."""

import pytest

import llamashield
from llamashield import Category, Taxonomy, taxonomy_for_model


def test_generations_have_their_published_codes() -> None:
    assert llamashield.LLAMA_GUARD_1.codes == tuple(f"O{i}" for i in range(1, 7))
    assert llamashield.LLAMA_GUARD_2.codes == tuple(f"S{i}" for i in range(1, 12))
    assert llamashield.LLAMA_GUARD_3.codes == tuple(f"S{i}" for i in range(1, 15))
    assert (
        llamashield.LLAMA_GUARD_4.codes
        == llamashield.LLAMA_GUARD_3_1B.codes
        == tuple(f"S{i}" for i in range(1, 14))
    )


def test_codes_shift_between_2_and_3() -> None:
    assert llamashield.LLAMA_GUARD_2["S5"].name == "Specialized Advice"
    assert llamashield.LLAMA_GUARD_3["S5"].name == "Defamation"
    assert (
        llamashield.LLAMA_GUARD_2["S9"].name == "Hate"
        and llamashield.LLAMA_GUARD_3["S10"].name == "Hate"
    )
    assert llamashield.LLAMA_GUARD_3["S14"].name == "Code Interpreter Abuse"
    assert "S14" not in llamashield.LLAMA_GUARD_4 and "S14" not in llamashield.LLAMA_GUARD_3_1B


@pytest.mark.parametrize(
    ("model", "generation"),
    [
        ("meta-llama/LlamaGuard-2-8b", 2),
        ("meta-llama/Meta-Llama-Guard-2-8B", 2),
        ("meta-llama/Meta-Llama-Guard-3-8B", 3),
        ("meta-llama/Llama-Guard-3-1B", 3),
        ("meta-llama/Llama-Guard-3-11B-Vision", 3),
        ("meta-llama/Llama-Guard-4-12B", 4),
        ("meta-llama/LlamaGuard-7b", 1),
        ("llama-guard3:8b", 3),
        ("/models/my-finetune", 2),
    ],
)
def test_model_id_picks_the_taxonomy(model: str, generation: int) -> None:
    assert taxonomy_for_model(model).generation == generation


def test_resolve_by_code_or_name() -> None:
    assert llamashield.LLAMA_GUARD_2.resolve("hate").code == "S9"
    assert llamashield.LLAMA_GUARD_2.resolve("S9").name == "Hate"
    with pytest.raises(KeyError, match="known codes"):
        llamashield.LLAMA_GUARD_2.resolve("S99")


@pytest.mark.parametrize("code", ["s1", "1", "SS1", "", "S"])
def test_bad_category_codes_are_rejected(code: str) -> None:
    with pytest.raises(ValueError, match="category code"):
        Category(code, "Name")


def test_custom_taxonomy_needs_unique_codes() -> None:
    with pytest.raises(ValueError, match="unique"):
        llamashield.LLAMA_GUARD_2.with_categories([Category("S1", "a"), Category("S1", "b")])


@pytest.mark.parametrize(
    ("model", "count"),
    [
        ("meta-llama/Llama-Guard-3-8B", 14),
        ("meta-llama/Meta-Llama-Guard-3-8B", 14),
        ("llama-guard3:8b", 14),
        ("llama-guard3", 14),
        ("meta-llama/Llama-Guard-3-1B", 13),
        ("meta-llama/Llama-Guard-3-1B-INT4", 13),
        ("llama-guard3:1b", 13),
        ("meta-llama/Llama-Guard-3-11B-Vision", 13),
        ("meta-llama/Llama-Guard-4-12B", 13),
    ],
)
def test_model_id_picks_thirteen_or_fourteen_categories(model: str, count: int) -> None:
    assert len(taxonomy_for_model(model)) == count


def test_llama_guard_3_and_4_use_the_names_in_metas_prompts() -> None:
    for taxonomy in (
        llamashield.LLAMA_GUARD_3,
        llamashield.LLAMA_GUARD_3_1B,
        llamashield.LLAMA_GUARD_4,
    ):
        assert taxonomy["S3"].name == "Sex Crimes"
        assert taxonomy["S4"].name == "Child Exploitation"
        assert taxonomy["S11"].name == "Self-Harm"


def test_excluding_keeps_codes_known_but_out_of_the_prompt() -> None:
    trimmed = llamashield.LLAMA_GUARD_3.excluding(["S2", "S14"])
    assert "S14" in trimmed and trimmed["S14"].name == "Code Interpreter Abuse"
    assert trimmed.prompt_codes == tuple(f"S{i}" for i in range(1, 14) if i != 2)
    assert trimmed.needs_own_prompt and not llamashield.LLAMA_GUARD_3.needs_own_prompt
    with pytest.raises(ValueError, match="unknown codes"):
        llamashield.LLAMA_GUARD_3.excluding(["S15"])
    with pytest.raises(ValueError, match="every category"):
        llamashield.LLAMA_GUARD_2.excluding(llamashield.LLAMA_GUARD_2.codes)
    assert isinstance(trimmed, Taxonomy)
