"""Deterministic tiny Llama Guard stand-ins on Meta's real tokenizers. Nothing is downloaded.

A stand-in is a ``LlamaForCausalLM`` (two layers, hidden size 64) with the full Llama 3 or
Llama 4 vocabulary whose attention and MLP output projections are zero, so every residual
stream is the token's own embedding and the next token depends on the current token only.
Embeddings and LM head are then chained: hidden dimension 0 is a bias that every token carries
(the head gives every token a logit of about -40 there) and each source token of the chain owns
one more dimension, in which the head gives its successors the logit ``log(p)``. Greedy decoding
after the prompt's last token therefore walks the chain, and the probability of the first
verdict token is exactly the ``p`` chosen here (the rest of the vocabulary shares ~1e-12).

The chain must be first-order: a token that occurs twice in the answer must be followed by the
same token both times. ``unsafe\\nS1,S9`` qualifies in both tokenizers
(``unsafe`` ``\\n`` ``S`` ``1`` ``,S`` ``9``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.local.meta_tokenizers import BOS, END_OF_TURN, HEADER_END, Generation, load_tokenizer

FLOOR = 40.0  # every token outside the chain sits at logit -FLOOR: e^-40 * 202,048 ~ 1e-12
LEAD = "\n\n"


@dataclass(frozen=True)
class StandIn:
    """What a stand-in answers, and after which prompt token.

    ``after`` is the last token of the prompts it judges (``]`` for Llama Guard 1/2's
    `` [/INST]``, ``\\n\\n`` for Llama Guard 3/4's header); ``answer`` is the greedy text and
    ``p_unsafe`` the probability of ``unsafe`` as the first verdict token (the rest goes to
    ``safe``). Like the real models, a Llama 3/4 stand-in answers ``\\n\\n`` right after the
    assistant header, so a prompt that stops before it makes the model spend a token on it.
    """

    tokenizer: Generation  # 3: Llama 3 tokenizer (Llama Guard 2 and 3), 4: Llama 4's
    after: str
    answer: str
    p_unsafe: float
    chat_template: str
    served_name: str

    @property
    def expected_score(self) -> float:
        return self.p_unsafe


def _one_token(tokenizer: Any, text: str) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"{text!r} is not one token: {ids}")
    return int(ids[0])


def chain_of(standin: StandIn, tokenizer: Any) -> dict[int, dict[int, float]]:
    """token id -> {successor id: probability}: the walk the model takes after the prompt."""
    eot = _one_token(tokenizer, END_OF_TURN[standin.tokenizer])
    chain: dict[int, dict[int, float]] = {}

    def link(source: int, successors: dict[int, float]) -> None:
        if chain.get(source, successors) != successors:
            raise ValueError(f"token {source} needs two successors: not a first-order chain")
        chain[source] = successors

    if standin.tokenizer in HEADER_END:
        link(_one_token(tokenizer, HEADER_END[standin.tokenizer]), {_one_token(tokenizer, LEAD): 1})
    tokens = tokenizer.encode(standin.answer, add_special_tokens=False)
    first, other = tokens[0], _one_token(tokenizer, "safe")
    if first == other:
        other = _one_token(tokenizer, "unsafe")
    p_first = standin.p_unsafe if first == _one_token(tokenizer, "unsafe") else 1 - standin.p_unsafe
    if not p_first > 0.5:
        raise ValueError("greedy decoding must pick the answer's first token")
    link(_one_token(tokenizer, standin.after), {first: p_first, other: 1 - p_first})
    for source, target in zip(tokens, [*tokens[1:], eot], strict=True):
        link(source, {target: 1.0})
    return chain


def build_standin(folder: Path, standin: StandIn, *, hidden: int = 64, layers: int = 2) -> Path:
    """Write a loadable model folder (safetensors, tokenizer, chat template) for ``standin``."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = load_tokenizer(standin.tokenizer)
    chain = chain_of(standin, tokenizer)
    if len(chain) >= hidden:
        raise ValueError("the chain needs more hidden dimensions")
    eos = [_one_token(tokenizer, END_OF_TURN[standin.tokenizer]), tokenizer.eos_token_id]
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,  # head size 32: one the CPU attention kernels support
        num_key_value_heads=1,
        max_position_embeddings=8192,  # Llama Guard 2's context: the guide serves 8192
        rms_norm_eps=1e-6,
        bos_token_id=_one_token(tokenizer, BOS),
        eos_token_id=sorted(set(eos)),
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        # The lanes' transformers read torch_dtype (5.x also takes it, as dtype's old name).
        torch_dtype="float32",  # type: ignore[call-arg]
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    # After the final RMSNorm a token with one chain dimension has hidden g * (e_0 + e_slot).
    gain = math.sqrt(hidden / 2)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embed = model.get_input_embeddings().weight
        head = model.get_output_embeddings().weight
        embed.zero_()
        head.zero_()
        embed[:, 0] = 1.0
        head[:, 0] = -FLOOR / gain
        for slot, (source, successors) in enumerate(chain.items(), start=1):
            embed[source, slot] = 1.0
            for target, p in successors.items():
                head[target, slot] = (FLOOR + math.log(p)) / gain
    folder.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, do_sample=False
    )
    model.save_pretrained(folder)
    tokenizer.chat_template = standin.chat_template
    tokenizer.save_pretrained(folder)
    (folder / "standin.json").write_text(
        json.dumps({"answer": standin.answer, "p_unsafe": standin.p_unsafe}) + "\n"
    )
    return folder


def first_token_distribution(folder: Path, prompt_ids: list[int]) -> Mapping[int, float]:
    """The stand-in's next-token probabilities after ``prompt_ids`` (transformers, top 5)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt_ids])).logits[0, -1]
    probs = torch.softmax(logits.double(), -1)
    top = torch.topk(probs, 5)
    return {int(i): float(p) for p, i in zip(top.values, top.indices, strict=True)}
