"""Meta's real Llama 3 and Llama 4 tokenizers, as Hugging Face tokenizer folders. No weights.

Meta ships the tokenizers (tiktoken BPE files) inside the ``llama-models`` wheel on PyPI. The
wheel is fetched once with ``pip download --no-deps`` into a cache folder, the tokenizer files
and Meta's own ``Tokenizer`` classes are unpacked, and transformers' tiktoken converter turns
the BPE file into a ``tokenizer.json`` with Meta's special tokens at Meta's ids (the ids come
from Meta's class, not from a list copied here). The converted tokenizer is cached too: the
conversion takes a few seconds.

The wheel goes where the conformance suite keeps Meta's wheels (``$LLAMASHIELD_META_WHEELS`` or
``~/.cache/llamashield/meta-wheels``), so it is fetched once for both; the unpacked and
converted files go to ``$LLAMASHIELD_TEST_CACHE`` or ``~/.cache/llamashield/tokenizers``. Only an
unreachable index is a reason to skip (``WheelUnavailable``); any other pip failure is an error.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Literal

from tests._support.pypi import said_unreachable

LLAMA_MODELS = "llama-models==0.3.0"
Generation = Literal[3, 4]
# Meta's chat formats (llama_models/llama3|4/chat_format.py) close every header with "\n\n";
# these are the tokens a Llama Guard prompt ends with and the model's end-of-turn token.
BOS = "<|begin_of_text|>"
HEADER_END = {3: "<|end_header_id|>", 4: "<|header_end|>"}
END_OF_TURN = {3: "<|eot_id|>", 4: "<|eot|>"}
_PAD = {3: "<|finetune_right_pad_id|>", 4: "<|finetune_right_pad|>"}
_FILES = ("__init__.py", "tokenizer_utils.py")
_PER_GENERATION = ("__init__.py", "tokenizer.py", "tokenizer.model")


class WheelUnavailable(RuntimeError):
    """PyPI could not be reached: the caller skips, saying why."""


def _home_cache(variable: str, leaf: str) -> Path:
    folder = Path(os.environ.get(variable) or Path.home() / ".cache" / "llamashield" / leaf)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cache_dir() -> Path:
    return _home_cache("LLAMASHIELD_TEST_CACHE", "tokenizers")


def llama_models_wheel() -> Path:
    """The pinned ``llama-models`` wheel, downloaded on first use."""
    folder = _home_cache("LLAMASHIELD_META_WHEELS", "meta-wheels")
    name, version = LLAMA_MODELS.split("==")
    wheel = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    if wheel.is_file():
        return wheel
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", str(folder), LLAMA_MODELS]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    output = done.stdout + done.stderr
    if done.returncode != 0 and said_unreachable(output):
        last = output.strip().splitlines()[-1:] or ["no output"]
        raise WheelUnavailable(f"pip download {LLAMA_MODELS}: {last[0]}")
    if done.returncode != 0 or not wheel.is_file():
        raise RuntimeError(f"pip download {LLAMA_MODELS} failed:\n{output[-3000:]}")
    return wheel


def meta_package() -> Path:
    """A folder holding Meta's ``llama_models`` tokenizer modules, importable as is."""
    root = cache_dir() / LLAMA_MODELS.replace("==", "-")
    wanted = [f"llama_models/{f}" for f in _FILES] + [
        f"llama_models/llama{g}/{f}" for g in (3, 4) for f in _PER_GENERATION
    ]
    if not all((root / w).exists() for w in wanted):
        with zipfile.ZipFile(llama_models_wheel()) as wheel:
            for member in wanted:
                wheel.extract(member, root)
    return root


def meta_tokenizer(generation: Generation) -> Any:
    """Meta's own ``Tokenizer`` (tiktoken), the reference the converted one is checked against."""
    root = str(meta_package())
    if root not in sys.path:
        sys.path.insert(0, root)
    module = importlib.import_module(f"llama_models.llama{generation}.tokenizer")
    return module.Tokenizer(meta_package() / f"llama_models/llama{generation}/tokenizer.model")


def tokenizer_folder(generation: Generation) -> Path:
    """A Hugging Face tokenizer folder for Llama 3 (128,256 ids) or Llama 4 (202,048)."""
    folder = cache_dir() / f"hf-llama{generation}-v1"  # bump when the conversion changes
    if (folder / "tokenizer.json").exists():
        return folder
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    meta = meta_tokenizer(generation)
    pattern = meta.pat_str if generation == 3 else meta.O200K_PATTERN
    model_file = meta_package() / f"llama_models/llama{generation}/tokenizer.model"
    tok = TikTokenConverter(vocab_file=str(model_file), pattern=pattern).converted()
    specials = sorted(meta.special_tokens.items(), key=lambda item: item[1])
    if specials[0][1] != tok.get_vocab_size():
        raise AssertionError("Meta's special tokens do not follow the BPE ranks")
    tok.add_special_tokens([name for name, _ in specials])
    bos_id = meta.special_tokens[BOS]
    # As Meta's tokenizer.json does: byte-level offsets, then BOS in front of every text.
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
            ),
        ]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=END_OF_TURN[generation],
        pad_token=_PAD[generation],
        model_max_length=131072,
        clean_up_tokenization_spaces=False,
    )
    partial = folder.with_name(folder.name + f".{os.getpid()}")
    fast.save_pretrained(partial)
    try:
        partial.rename(folder)  # whole or absent: a second process never reads half a folder
    except OSError:  # another process finished first: its folder is the same
        shutil.rmtree(partial)
    return folder


def load_tokenizer(generation: Generation) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_folder(generation))
