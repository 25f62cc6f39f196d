"""The converted tokenizers are Meta's, id for id, and the stand-ins answer what they claim.

The engine lane (tests/engines, real vLLM) relies on both; checking them here, in the fast
suite, keeps a broken stand-in from showing up as a puzzling vLLM failure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.local.meta_tokenizers import BOS, WheelUnavailable, load_tokenizer, meta_tokenizer

TEXT = st.text(
    st.characters(exclude_categories=["Cs"]),  # lone surrogates cannot be UTF-8 encoded
    max_size=60,
) | st.sampled_from(["unsafe\nS1,S9", " [/INST]", "\n\n", "S10,S14", "Agent: ok.\n\n"])


class Pair(tuple):  # type: ignore[type-arg]
    """(generation, converted, Meta's): a short repr, since hypothesis prints its arguments."""

    def __repr__(self) -> str:
        return f"<Llama {self[0]} tokenizers>"


@pytest.fixture(scope="module", params=[3, 4], ids=["llama3", "llama4"])
def tokenizers(request: pytest.FixtureRequest) -> tuple[int, Any, Any]:
    try:
        return Pair((request.param, load_tokenizer(request.param), meta_tokenizer(request.param)))
    except WheelUnavailable as exc:
        pytest.skip(f"Meta's tokenizers (llama-models on PyPI) are unreachable: {exc}")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=TEXT)
def test_converted_tokenizer_encodes_like_metas(
    tokenizers: tuple[int, Any, Any], text: str
) -> None:
    _, ours, meta = tokenizers
    # A Hugging Face tokenizer reads special-token text ("<|eot_id|>") as the special token,
    # as vLLM does with a prompt: that is tiktoken with every special token allowed.
    expected = meta.encode(text, bos=False, eos=False, allowed_special="all")
    assert ours.encode(text, add_special_tokens=False) == expected
    assert ours.decode(ours.encode(text, add_special_tokens=False)) == text


def test_special_tokens_sit_at_metas_ids(tokenizers: tuple[int, Any, Any]) -> None:
    generation, ours, meta = tokenizers
    assert len(ours) == meta.n_words == {3: 128_256, 4: 202_048}[generation]
    for name, index in meta.special_tokens.items():
        assert ours.convert_tokens_to_ids(name) == index
    # A prompt that carries <|begin_of_text|> as text is read as the one special token.
    assert ours.encode(BOS + "hi", add_special_tokens=False) == [meta.bos_id, *meta.encode(
        "hi", bos=False, eos=False)]  # fmt: skip
    assert ours.encode("hi")[0] == meta.bos_id  # BOS added by default, as Meta's HF tokenizers do


def test_verdict_words_are_the_documented_single_tokens() -> None:
    try:
        tok = load_tokenizer(3)
    except WheelUnavailable as exc:
        pytest.skip(str(exc))
    ids = {
        w: tok.encode(w, add_special_tokens=False) for w in ("safe", "unsafe", " safe", " unsafe")
    }
    assert ids == {"safe": [19193], "unsafe": [39257], " safe": [6220], " unsafe": [20451]}


@pytest.mark.parametrize(
    ("generation", "after", "answer", "p_unsafe"),
    [(3, "]", "unsafe\nS1,S9", 0.73), (3, "\n\n", "unsafe\nS1,S9", 0.73), (4, "\n\n", "safe", 0.2)],
)
def test_standin_answers_its_verdict_with_the_known_probability(
    tmp_path: Path, generation: int, after: str, answer: str, p_unsafe: float
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.local.guard_standins import LEAD, StandIn, build_standin
    from tests.local.meta_tokenizers import HEADER_END

    standin = StandIn(generation, after, answer, p_unsafe, "{{ 'unused' }}", "standin")  # type: ignore[arg-type]
    try:
        folder = build_standin(tmp_path / "m", standin)
    except WheelUnavailable as exc:
        pytest.skip(str(exc))
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    prefix = "Task: whatever came before" + ("" if after == "]" else HEADER_END[generation])
    for prompt in (prefix + (" [/INST]" if after == "]" else LEAD), prefix):
        if after == "]" and prompt == prefix:
            continue  # Llama Guard 2 has no header: nothing to lead with
        ids = tok(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            out = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=12,
                do_sample=False,
                output_scores=True,
                return_dict_in_generate=True,
            )
        text = tok.decode(out.sequences[0, ids.shape[1] :], skip_special_tokens=True)
        lead = "" if prompt.endswith((LEAD, "]")) else LEAD  # stopped early: "\n\n" comes first
        assert text == lead + answer
        step = 1 if lead else 0
        probs = torch.softmax(out.scores[step][0].double(), -1)
        unsafe = tok.convert_tokens_to_ids("unsafe")
        assert float(probs[unsafe]) == pytest.approx(p_unsafe, abs=1e-4)
