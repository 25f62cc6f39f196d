"""The moderation result built from a verdict: OpenAI's fields follow the table, for any verdict."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from llamashield import LLAMA_GUARD_1, LLAMA_GUARD_2, LLAMA_GUARD_3, LLAMA_GUARD_4, Verdict
from llamashield.serve.openai_api import moderation_result
from llamashield.serve.openai_categories import OPENAI_CATEGORIES, TO_OPENAI

TAXONOMIES = [LLAMA_GUARD_1, LLAMA_GUARD_2, LLAMA_GUARD_3, LLAMA_GUARD_4]


@st.composite
def verdicts(draw: st.DrawFn) -> Verdict:
    taxonomy = draw(st.sampled_from(TAXONOMIES))
    categories = draw(st.lists(st.sampled_from(list(taxonomy)), unique=True, max_size=4))
    return Verdict(
        safe=draw(st.booleans()),
        categories=tuple(categories),
        score=draw(st.none() | st.floats(0.0, 1.0)),
        error=draw(st.none() | st.just("guard timed out")),
        raw="unsafe\n" + ",".join(c.code for c in categories) if categories else "safe",
    )


@given(verdicts(), st.booleans())
def test_result_follows_the_verdict_and_the_table(verdict: Verdict, images: bool) -> None:
    result = moderation_result(verdict, has_images=images)
    assert result["flagged"] is (not verdict.safe)
    assert list(result["categories"]) == list(OPENAI_CATEGORIES)
    expected = (
        {n for c in verdict.categories for n in TO_OPENAI.get(c.name, ())}
        if not verdict.safe
        else set()
    )
    assert {n for n, on in result["categories"].items() if on} == expected
    score = 1.0 if verdict.score is None else verdict.score
    assert result["category_scores"] == {n: score if n in expected else 0.0
                                         for n in OPENAI_CATEGORIES}  # fmt: skip
    native = result["llama_guard"]
    assert native["codes"] == list(verdict.codes) and native["raw"] == verdict.raw
    assert native["error"] == verdict.error and native["safe"] is verdict.safe
    if not verdict.safe:  # every flagged category is mapped or said unmapped
        named = {c.name for c in verdict.categories}
        assert set(native["unmapped"]) == {n for n in named if n not in TO_OPENAI}
    assert all(
        types == ["text"] or (images and types == ["text", "image"])
        for types in result["category_applied_input_types"].values()
    )
