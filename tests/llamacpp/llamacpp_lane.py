"""The llama.cpp lane's pieces: the stand-in, its GGUF, the two servers and how they start."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests._support import lanes
from tests._support.lanes import guide_block
from tests.engines.chat_templates import LLAMA_GUARD_3
from tests.engines.recorder import Recorder
from tests.local.guard_standins import StandIn, build_standin

CONTEXT = 2048
START_TIMEOUT = 300.0
STANDIN = StandIn(3, "\n\n", "unsafe\nS1,S9", 0.73, LLAMA_GUARD_3, "meta-llama/Llama-Guard-3-8B")
BOS = 128000


@dataclass
class Server:
    name: str  # "llama_cpp.server", "llama-server", "llama-server-prefill"
    url: str
    recorder: Recorder
    start_seconds: float

    @property
    def model(self) -> str:
        return STANDIN.served_name

    def tokenize(self, text: str) -> list[int]:
        """The tokens the server feeds the model for a completions prompt ``text``."""
        if self.name == "llama_cpp.server":
            answer = httpx.post(f"{self.url}/extras/tokenize", json={"input": text}, timeout=60)
        else:
            body = {"content": text, "add_special": True, "parse_special": True}
            answer = httpx.post(f"{self.url}/tokenize", json=body, timeout=60)
        answer.raise_for_status()
        return list(answer.json()["tokens"])


_UNSET_BOS = """
import sys
from gguf import GGUFReader
field = GGUFReader(sys.argv[1], "r+").get_field("tokenizer.ggml.add_bos_token")
field.parts[field.data[0]][0] = False
"""


def build_gguf(root: Path, *, add_bos: bool = True) -> Path:
    """The stand-in, built on Meta's tokenizer and converted by llama.cpp's own script.

    ``add_bos=False`` then sets ``tokenizer.ggml.add_bos_token`` to false in place with gguf-py
    (as its ``gguf_set_metadata.py`` does): a GGUF whose servers add no BOS to completions
    prompts.
    """
    folder = build_standin(root / "Llama-Guard-3-standin", STANDIN)
    source = Path(os.environ["LLAMASHIELD_LLAMACPP_SRC"])
    out = root / f"llama-guard-3-standin-f32{'' if add_bos else '-no-bos'}.gguf"
    env = {**os.environ, "PYTHONPATH": str(source / "gguf-py"), "HF_HUB_OFFLINE": "1"}
    steps = [[str(source / "convert_hf_to_gguf.py"), str(folder), "--outfile", str(out),
              "--outtype", "f32"]]  # fmt: skip
    if not add_bos:  # what gguf_set_metadata.py does, for a bool it cannot parse from argv
        steps.append(["-c", _UNSET_BOS, str(out)])
    for step in steps:
        done = subprocess.run(
            [sys.executable, *step], capture_output=True, text=True, env=env, timeout=600,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"{Path(step[0]).name} failed:\n{done.stderr[-4000:]}")
    return out


def command(name: str, gguf: Path, port: int) -> list[str]:
    """The guide's command for ``name``, pointed at the stand-in on a free loopback port with a
    2,048-token context; ``llama-server-prefill`` drops ``--no-prefill-assistant`` (the
    server's default behaviour)."""
    marker = "llama-cpp-python" if name == "llama_cpp.server" else "llama-server"
    args = shlex.split(guide_block(marker).replace("\\\n", " "))
    model, context = ("--model", "--n_ctx") if name == "llama_cpp.server" else ("-m", "-c")
    swap = {model: str(gguf), context: str(CONTEXT), "--host": "127.0.0.1", "--port": str(port)}
    out: list[str] = []
    rest = iter(args)
    for arg in rest:
        out.append(arg)
        if arg in swap:
            next(rest)
            out.append(swap[arg])
    if name == "llama_cpp.server":
        if out[:3] != ["python", "-m", "llama_cpp.server"]:
            raise AssertionError(f"unexpected llama-cpp-python command in the guide: {out[:3]}")
        return [sys.executable, *out[1:]]
    if out[0] != "llama-server" or "--jinja" not in out:
        raise AssertionError(f"unexpected llama-server command in the guide: {out}")
    out[0] = os.environ["LLAMASHIELD_LLAMA_SERVER"]
    if name == "llama-server-prefill":
        out.remove("--no-prefill-assistant")
    return [*out, "-np", "1"]  # one slot: the whole context for each request


def start(name: str, gguf: Path, log: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    return lanes.start(
        name,
        lambda port: command(name, gguf, port),
        log,
        ready="/v1/models",
        timeout=START_TIMEOUT,
        poll=0.5,
    )


def serve(name: str, gguf: Path, root: Path) -> Iterator[Server]:
    process, url, seconds = start(name, gguf, root / f"{name}.log")
    print(f"\n{name} ready in {seconds:.1f} s", flush=True)
    recorder = Recorder(url)
    try:
        yield Server(name, url, recorder, seconds)
    finally:
        recorder.close()
        lanes.stop(process)


def wire_prompts(server: Server) -> list[Any]:
    return [body["prompt"] for body in server.recorder.bodies("/v1/completions")]
