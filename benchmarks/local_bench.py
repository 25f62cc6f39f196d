"""TransformersBackend on CPU: one-pass scoring, policy-prefix reuse and batching, as ratios.

Run: ``/tmp/venv/bin/python benchmarks/local_bench.py [--threads N]`` (two to three minutes on
two cores; torch uses one thread unless told).

The model is a random ``LlamaForCausalLM`` shaped like Llama Guard 2 8B scaled down for a CPU:
8 layers, hidden 512, 8 query heads sharing 2 KV heads, MLP 3.5x hidden, and a vocabulary
whose LM head is the same share of the weights as in the 8B model (4k here, 128k there). The
tokenizer is word-level, split like Llama 3 (``_word_tokenizer.py``), and the prompt is the real
Llama Guard 2 template. The LM head is set so the model answers ``safe`` then EOS, as Llama
Guard does for most traffic, so ``generate()`` stops where the real model would. Every ratio
compares cases timed in alternation in this one run.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmarks/ and tests/ (the shared tiny-model builder)

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from benchmarks._common import print_table  # noqa: E402
from benchmarks._word_tokenizer import EOS, WORDS, build_tokenizer, sample_prompts  # noqa: E402
from llamashield import LlamaGuard  # noqa: E402
from llamashield._parser import parse_answer  # noqa: E402
from llamashield.backends.transformers import TransformersBackend  # noqa: E402
from tests.local.tiny_llama import build_model, force_transitions, save_guard  # noqa: E402

BATCH = 64
PER_GROUP = 3  # messages per length group in the one-at-a-time comparisons
LENGTHS = {"5-word": (4, 6), "20-word": (17, 22), "42-word": (40, 44)}  # words per message
Row = tuple[str, str, str, str]
Samples = dict[str, list[tuple[float, float]]]  # (wall, cpu) seconds per call


def messages(count: int, words: tuple[int, int], seed: int) -> list[str]:
    rng = random.Random(seed)
    vocab = WORDS.split()
    return [" ".join(rng.choices(vocab, k=rng.randint(*words))) for _ in range(count)]


def timed(cases: dict[str, Callable[[str], object]], items: list[str], rounds: int) -> Samples:
    """Wall and CPU seconds per call of each case on each item, the cases back to back.

    Running the cases in alternation on the same item, and taking medians of per-item ratios,
    keeps the ratios steady on a shared, busy machine where absolute times are not. CPU time
    (all threads of this process) is what the work costs whatever else the machine is doing.
    """
    samples: Samples = {name: [] for name in cases}
    for _ in range(rounds):
        for item in items:
            for name, fn in cases.items():
                wall, cpu = time.perf_counter(), time.process_time()
                fn(item)
                samples[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return samples


def ratio(slow: list[tuple[float, float]], fast: list[tuple[float, float]]) -> str:
    """Median per-item ratio, wall clock / CPU time."""
    wall = statistics.median(s[0] / f[0] for s, f in zip(slow, fast, strict=True))
    cpu = statistics.median(s[1] / f[1] for s, f in zip(slow, fast, strict=True))
    return f"{wall:.2f}x / {cpu:.2f}x"


def median_ms(values: list[tuple[float, float]]) -> str:
    wall = statistics.median(v[0] for v in values) * 1000
    cpu = statistics.median(v[1] for v in values) * 1000
    return f"{wall:.0f} / {cpu:.0f} ms"


def main() -> None:
    # One thread by default: on a small shared machine, two OpenMP threads stall whenever the
    # other process gets the core, and the timings turn to noise. --threads N to change it.
    threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 1
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    tokenizer = build_tokenizer(sample_prompts())
    model = build_model(tokenizer, layers=8, hidden=512, heads=8, kv_heads=2, intermediate=1792,
                        vocab_size=4096)  # fmt: skip
    force_transitions(model, tokenizer, {"]": "safe", "safe": EOS})
    with TemporaryDirectory() as tmp:
        folder = save_guard(Path(tmp) / "guard", model, tokenizer)
        fast = TransformersBackend(folder, max_batch_size=16)
        no_prefix = TransformersBackend(folder, reuse_prefix=False)
        wide = TransformersBackend(folder, max_batch_size=BATCH)
        plain_tok = AutoTokenizer.from_pretrained(folder)
        plain_model = AutoModelForCausalLM.from_pretrained(folder).eval()
    guard, guard_no_prefix = LlamaGuard(fast), LlamaGuard(no_prefix)
    guard_wide = LlamaGuard(wide, max_concurrency=BATCH)

    def plain(message: str) -> bool:
        """What a generate() wrapper does: full prompt, generate, decode, parse."""
        request = guard.prepare(message)
        enc = plain_tok(request.prompt, return_tensors="pt")
        with torch.inference_mode():
            out = plain_model.generate(**enc, max_new_tokens=20, do_sample=False)
        text = plain_tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        return parse_answer(text, request.taxonomy).unsafe

    def tokens(text: str) -> int:
        return len(plain_tok(text, add_special_tokens=False)["input_ids"])

    groups = {
        name: messages(PER_GROUP, words, seed=i) for i, (name, words) in enumerate(LENGTHS.items())
    }
    batch = messages(BATCH, (6, 30), seed=99)
    every_single = [m for group in groups.values() for m in group]
    # Same answers on every path before timing anything (this also warms every path up).
    assert not any(plain(m) for m in every_single[:2])
    for g in (guard, guard_no_prefix, guard_wide):
        assert all(v.safe and v.error is None for v in g.check_many(every_single))
        assert g.check(every_single[0]).safe

    prompt = guard.prepare(groups["20-word"][0]).prompt
    prefix = prompt[: prompt.index("<BEGIN CONVERSATION>\n\n") + 22]
    rows: list[Row] = [
        ("prompt with a 20-word message", f"{tokens(prompt)} tokens", "", ""),
        ("  policy prefix (reused)", f"{tokens(prefix)} tokens", "", ""),
    ]  # fmt: skip
    everything: Samples = {"generate": [], "reuse": [], "none": []}
    for name, group in groups.items():
        times = timed({"generate": plain, "reuse": guard.check, "none": guard_no_prefix.check},
                      group, rounds=3)  # fmt: skip
        for key, values in times.items():
            everything[key] += values
        lo, hi = min(map(tokens, group)), max(map(tokens, group))
        rows += _single_rows(f"{name} messages, {lo}-{hi} tokens", times)
    rows += _single_rows("all three sizes", everything)

    many = timed(
        {
            "one by one": lambda _: [guard.check(m) for m in batch],
            "check_many, batch <= 16": lambda _: guard.check_many(batch),
            "check_many, batch <= 64": lambda _: guard_wide.check_many(batch),
        },
        ["all"],
        rounds=3,
    )
    rows.append((f"{BATCH} messages, {min(map(tokens, batch))}-{max(map(tokens, batch))} tokens",
                 "", "", ""))  # fmt: skip
    for name, seconds in many.items():
        target = "" if name == "one by one" else ">= 2x"  # throughput ratio: one by one / batched
        wall = BATCH / statistics.median(t[0] for t in seconds)
        cpu = BATCH / statistics.median(t[1] for t in seconds)
        throughput = f"{wall:.1f} / {cpu:.1f} checks/s"
        rows.append((f"  {name}", throughput, ratio(many["one by one"], seconds), target))
    print_table("TransformersBackend, CPU, random 8x512 Llama (wall / CPU time)", rows)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}, load average "
        f"{load:.1f} at the end; batch sizes run: {sorted(set(fast.stats.batch_sizes))}"
    )


def _single_rows(title: str, times: Samples) -> list[Row]:
    def ms(name: str) -> str:
        return median_ms(times[name])

    def vs(slow: str, fast: str) -> str:
        return ratio(times[slow], times[fast])

    return [
        (title, "per check", "", ""),
        ("  generate() + parse", ms("generate"), "1.00x / 1.00x", ""),
        ("  prefix reuse + one pass", ms("reuse"), vs("generate", "reuse"), ">= 3x"),
        ("  one pass, no prefix reuse", ms("none"), vs("generate", "none"), ""),
        ("  prefix reuse vs none", "", vs("none", "reuse"), ">= 2x"),
    ]  # fmt: skip


if __name__ == "__main__":
    main()
