"""Tiny random Llama Guard folders, built once per session and loaded through from_pretrained."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from tiny_llama import (  # noqa: E402
    EOS,
    build_model,
    build_tokenizer,
    force_transitions,
    sample_prompts,
    save_guard,
)

from llamashield._taxonomy import LLAMA_GUARD_2, Category  # noqa: E402
from llamashield.backends.transformers import clear_model_cache  # noqa: E402

CUSTOM = (
    Category("S1", "Pineapple Pizza", "Should not praise pineapple on pizza."),
    Category("S2", "Cat Slander", "Should not insult cats or dogs."),
    Category("S3", "Travel Spoilers", "Should not reveal hotel prices in Paris."),
)

# Llama Guard 3 answers "\n\n" first: after the header, the forced model says it too.
_LEAD = {"<|end_header_id|>": "\n\n"}
SCENARIOS: dict[str, dict[str, str]] = {
    "random": _LEAD,
    "unsafe": {
        **_LEAD,
        "]": "unsafe",  # the Llama Guard 2 prompt ends with " [/INST]"
        "\n\n": "unsafe",  # Llama Guard 3: after the lead
        "unsafe": "\n",
        "\n": "S1",
        "S1": ",",
        ",": "S3",
        "S3": EOS,
    },
    "safe": {**_LEAD, "]": "safe", "\n\n": "safe", "safe": EOS},
}


@pytest.fixture(scope="session")
def tokenizer() -> object:
    return build_tokenizer(sample_prompts([LLAMA_GUARD_2.with_categories(CUSTOM)]))


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
        force_transitions(model, tokenizer, transitions)  # type: ignore[arg-type]
        folders[name] = save_guard(root / name, model, tokenizer)  # type: ignore[arg-type]
    return folders


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> Iterator[None]:
    clear_model_cache()
    yield
    clear_model_cache()
