"""A tiny random Llama Guard: Meta's real Llama 3 tokenizer and a random LlamaForCausalLM.

Nothing but the tokenizer is downloaded (the ``llama-models`` wheel from PyPI, cached; see
``meta_tokenizers``). The model has the full 128,256-entry vocabulary and two small layers.
``force_transitions`` makes chosen tokens win after chosen tokens, so a test can dictate the
model's answer while the rest stays random; ``answer_transitions`` spells a whole answer as such
a chain. The benchmark imports this module too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from tests.local.meta_tokenizers import END_OF_TURN, load_tokenizer

EOS = END_OF_TURN[3]


def llama3_tokenizer() -> PreTrainedTokenizerFast:
    return load_tokenizer(3)  # type: ignore[no-any-return]


def answer_transitions(tokenizer: PreTrainedTokenizerFast, answer: str) -> dict[str, str]:
    r"""token -> next token along ``answer``, then EOS.

    ``unsafe\nS1,S3`` is ``unsafe`` ``\n`` ``S`` ``1`` ``,S`` ``3`` in Llama 3: each token once,
    so a first-order chain can say it.
    """
    ids = tokenizer.encode(answer, add_special_tokens=False)
    pieces = [decoded_text(tokenizer, [i]) for i in ids]
    if len(set(pieces)) != len(pieces):
        raise ValueError(f"{answer!r} repeats a token: the chain would loop")
    return dict(zip(pieces, [*pieces[1:], EOS], strict=True))


def build_model(
    tokenizer: PreTrainedTokenizerFast,
    *,
    layers: int = 2,
    hidden: int = 64,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate: int | None = None,
    vocab_size: int | None = None,
    seed: int = 0,
) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size or len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate or hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    model.eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def decoded_text(tokenizer: PreTrainedTokenizerFast, ids: list[int], **options: Any) -> str:
    """``tokenizer.decode`` of one sequence: a string (decode's type also covers batches)."""
    text = tokenizer.decode(ids, **options)
    assert isinstance(text, str)  # one sequence of ids decodes to one string
    return text


def token_id(tokenizer: PreTrainedTokenizerFast, text: str) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise AssertionError(f"{text!r} is not one token in the test tokenizer: {ids}")
    return int(ids[0])


@torch.no_grad()
def force_transitions(
    model: LlamaForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    transitions: Mapping[str, str],
    *,
    gain: float = 6.0,
) -> None:
    """After each key token the model's greedy choice is the value token, whatever came before.

    Each source token gets a private hidden dimension: its embedding carries a 1 there (others a
    0), and the LM head maps that dimension to the target token with a large weight. The random
    layers add only small noise to those dimensions, so the forced token wins by a wide margin
    while every other position keeps its random distribution.
    """
    embed = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    assert isinstance(embed, torch.Tensor) and isinstance(head, torch.Tensor)
    sources = list(transitions)
    if len(sources) > embed.shape[1] // 4:
        raise ValueError("too many transitions for this hidden size")
    for slot, source in enumerate(sources):
        dim = embed.shape[1] - 1 - slot
        embed[:, dim] = 0.0
        head[:, dim] = 0.0
        embed[token_id(tokenizer, source), dim] = 1.0
        head[token_id(tokenizer, transitions[source]), dim] = gain


def save_guard(folder: Path, model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
