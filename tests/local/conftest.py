"""Tiny random Llama Guard folders on Meta's real Llama 3 tokenizer, built once per session and
loaded through from_pretrained. The tokenizer comes from the ``llama-models`` wheel (PyPI,
cached); without PyPI these tests skip, saying so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from llamashield._taxonomy import Category  # noqa: E402
from llamashield.backends.transformers import clear_model_cache  # noqa: E402
from tests.local.meta_tokenizers import WheelUnavailable  # noqa: E402
from tests.local.tiny_llama import (  # noqa: E402
    answer_transitions,
    build_model,
    force_transitions,
    llama3_tokenizer,
    save_guard,
)

CUSTOM = (
    Category("S1", "Pineapple Pizza", "Should not praise pineapple on pizza."),
    Category("S2", "Cat Slander", "Should not insult cats or dogs."),
    Category("S3", "Travel Spoilers", "Should not reveal hotel prices in Paris."),
)

# Llama Guard 3 answers "\n\n" first: after the header, the forced model says it too.
_LEAD = {"<|end_header_id|>": "\n\n"}
# The Llama Guard 2 prompt ends with " [/INST]" (last token "]"); Llama Guard 3's with "\n\n".
SCENARIOS: dict[str, dict[str, str]] = {
    "random": _LEAD,
    "unsafe": {**_LEAD, "]": "unsafe", "\n\n": "unsafe"},
    "safe": {**_LEAD, "]": "safe", "\n\n": "safe"},
}
ANSWERS = {"unsafe": "unsafe\nS1,S3", "safe": "safe"}


@pytest.fixture(scope="session")
def tokenizer() -> object:
    try:
        return llama3_tokenizer()
    except WheelUnavailable as exc:
        pytest.skip(f"Meta's Llama 3 tokenizer (llama-models on PyPI) is unreachable: {exc}")


@pytest.fixture(scope="session")
def guard_folders(tmp_path_factory: pytest.TempPathFactory, tokenizer: object) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("guards")
    folders = {}
    for name, transitions in SCENARIOS.items():
        model = build_model(tokenizer)  # type: ignore[arg-type]
        with torch.no_grad():
            # A sharper head spreads the random scores over (0, 1), so a wrong cache or
            # position shows up as a visibly different probability.
            model.lm_head.weight.mul_(10.0)
        if name in ANSWERS:
            transitions = {**transitions, **answer_transitions(tokenizer, ANSWERS[name])}  # type: ignore[arg-type]
        force_transitions(model, tokenizer, transitions)  # type: ignore[arg-type]
        folders[name] = save_guard(root / name, model, tokenizer)  # type: ignore[arg-type]
    return folders


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> Iterator[None]:
    clear_model_cache()
    yield
    clear_model_cache()
