"""A tiny random Llama Guard: a word-level tokenizer built here and a random LlamaForCausalLM.

Nothing is downloaded. The tokenizer splits like Llama 3's (words keep their leading space,
newline runs are one token) and has the tokens a verdict needs (``safe``, `` safe``, ``unsafe``,
`` unsafe``, ``S1``..``S14``, ``,``, ``\\n``) plus BOS/EOS and the Llama 3 header tokens; it adds
BOS by default, as the Llama 3 tokenizer does. ``force_transitions`` makes chosen tokens win
after chosen tokens, so a test can dictate the model's answer while the rest stays random.
The benchmark imports this module too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from llamashield._conversation import Turn
from llamashield._prompts import build_prompt
from llamashield._taxonomy import LLAMA_GUARD_1, LLAMA_GUARD_2, LLAMA_GUARD_3, Taxonomy

BOS, EOS, PAD, UNK = "<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>", "<unk>"
SPECIALS = [
    UNK,
    BOS,
    "<|end_of_text|>",
    EOS,
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|header_start|>",
    "<|header_end|>",
    "<|eot|>",
    PAD,
]
# Llama 3's split, except that a category code stays one token ("S10", not "S" + "10").
_SPLIT = r"\s*[\r\n]+| ?[A-Za-z]+\d*| ?\d+| ?[^\sA-Za-z\d]+|\s+(?!\S)|\s+"
_ANSWER_WORDS = "safe unsafe\n safe\n unsafe\n" + ",".join(f"S{i}" for i in range(1, 15)) + "\n\n"
WORDS = (
    "hello how are you today I want to make a bomb kill myself the weather is nice can help "
    "with homework here recipe for cake sure instructions no thanks please tell me about "
    "history of Rome what time it write poem cats and dogs buy gun pineapple pizza love hate "
    "people who eat answer question good morning friend weekend plans travel to Paris book "
    "flight hotel cheap option best way learn Python code review this function my bank account "
    "password steal car quick question about taxes medical advice headache"
)


def sample_prompts(extra: Iterable[Taxonomy] = ()) -> list[str]:
    """Prompts of every shape the tests use, so the tokenizer knows all their words."""
    words = WORDS.split()
    conversations = [
        (Turn("user", " ".join(words[:40])),),
        (Turn("user", " ".join(words[40:])), Turn("agent", " ".join(words[:30]))),
    ]
    taxonomies = [LLAMA_GUARD_1, LLAMA_GUARD_2, LLAMA_GUARD_3, *extra]
    return [build_prompt(c, t) for c in conversations for t in taxonomies]


def build_tokenizer(corpus: Iterable[str]) -> PreTrainedTokenizerFast:
    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    vocab = {token: i for i, token in enumerate(SPECIALS)}
    for text in [*corpus, _ANSWER_WORDS, WORDS, " " + WORDS]:
        for piece, _ in pre.pre_tokenize_str(text):
            vocab.setdefault(piece, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIALS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK
    )


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
    model = LlamaForCausalLM(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


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
