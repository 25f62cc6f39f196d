"""The benchmark's word-level tokenizer: split like Llama 3, a 4k-entry vocabulary.

The benchmark keeps the LM head the same share of the weights as in Llama Guard 2 8B (4k ids
here for 128k there) so its ratios hold for the real model; the tests use Meta's real Llama 3
tokenizer instead (``tests/local/meta_tokenizers.py``).
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

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
