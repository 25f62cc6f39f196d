"""The engine lane's pieces: the stand-ins, the serving guide's commands, a vLLM server."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests._support import lanes
from tests._support.lanes import guide_block
from tests.engines import chat_templates
from tests.engines.recorder import Recorder
from tests.local.guard_standins import StandIn

START_TIMEOUT = float(os.environ.get("LLAMASHIELD_VLLM_START_TIMEOUT", "900"))

# Llama Guard 2 and 3 on the Llama 3 tokenizer answer unsafe (S9 is Hate in 2, Indiscriminate
# Weapons in 3: the taxonomy follows the model); the Llama Guard 4 stand-in answers safe, so a
# threshold below its score must block. The probabilities are the models' exact first-token ones.
STANDINS = {
    "lg2": StandIn(3, "]", "unsafe\nS1,S9", 0.73, chat_templates.LLAMA_GUARD_2,
                   "meta-llama/Meta-Llama-Guard-2-8B"),
    "lg3": StandIn(3, "\n\n", "unsafe\nS1,S9", 0.73, chat_templates.LLAMA_GUARD_3,
                   "meta-llama/Llama-Guard-3-8B"),
    "lg4": StandIn(4, "\n\n", "safe", 0.2, chat_templates.LLAMA_GUARD_4,
                   "meta-llama/Llama-Guard-4-12B"),
}  # fmt: skip
BOS_ID = {3: 128000, 4: 200000}


def serve_command(folder: Path, standin: StandIn, port: int) -> list[str]:
    """The guide's command, pointed at the stand-in; CPU-only flags appended."""
    args = shlex.split(guide_block("serve").replace("\\\n", " "))
    if args[:3] != ["python", "-m", "vllm.entrypoints.openai.api_server"]:
        raise AssertionError(f"unexpected serve command in docs/serving.md: {args[:3]}")
    swap = {"--model": str(folder), "--served-model-name": standin.served_name,
            "--host": "127.0.0.1", "--port": str(port)}  # fmt: skip
    out = [sys.executable, *args[1:3]]
    rest = iter(args[3:])
    for arg in rest:
        out.append(arg)
        if arg in swap:
            next(rest)
            out.append(swap.pop(arg))
    if swap:
        raise AssertionError(f"the guide's serve command lacks {sorted(swap)}")
    # The stand-ins are float32 so their probabilities are exact; eager mode skips a torch
    # compile that only slows start-up on two shared cores.
    return [*out, "--dtype", "float32", "--enforce-eager"]


@dataclass
class Server:
    name: str
    standin: StandIn
    url: str  # the server itself, http://127.0.0.1:PORT
    recorder: Recorder  # a recording proxy in front of it
    start_seconds: float

    @property
    def model(self) -> str:
        return self.standin.served_name

    @property
    def bos(self) -> int:
        return BOS_ID[self.standin.tokenizer]

    def tokenize(self, **body: Any) -> list[int]:
        answer = httpx.post(f"{self.url}/tokenize", json={"model": self.model, **body}, timeout=60)
        answer.raise_for_status()
        return list(answer.json()["tokens"])

    def label(self, metric: str, label: str) -> str:
        """A label's value on a metric (vLLM reports its cache settings this way)."""
        text = httpx.get(f"{self.url}/metrics", timeout=30).text
        match = re.search(rf'^{re.escape(metric)}{{[^}}]*\b{label}="([^"]*)"', text, re.M)
        if match is None:
            raise AssertionError(f"vLLM's /metrics has no {metric} with {label}")
        return match.group(1)

    def metric(self, name: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=30).text
        values = [
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name + "{") or line.startswith(name + " ")
        ]
        if not values:
            raise AssertionError(f"vLLM's /metrics has no {name}")
        return sum(values)


def start_server(name: str, folder: Path, log: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    env = {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB; the default takes a large share of memory
        "VLLM_HOST_IP": "127.0.0.1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    return lanes.start(
        f"vLLM for {name}",
        lambda port: serve_command(folder, STANDINS[name], port),
        log,
        ready="/health",
        timeout=START_TIMEOUT,
        poll=1.0,
        env=env,
    )


def stop_server(process: subprocess.Popen[bytes]) -> None:
    lanes.stop(process, grace=60.0)
