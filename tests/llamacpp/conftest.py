"""The llama.cpp lane: real ``llama_cpp.server`` and ``llama-server`` serving a tiny Llama Guard 3.

Skipped unless ``LLAMASHIELD_LLAMACPP=1`` (``python3 dev.py test-llamacpp`` sets it, builds
llama-cpp-python 0.3.36 from its PyPI sdist and ``llama-server`` from the same llama.cpp, and
runs this folder in ``.venv-llamacpp``). The model is the vLLM lane's Llama Guard 3 stand-in
(Meta's real Llama 3 tokenizer, a deterministic two-layer model answering ``unsafe\\nS1,S9``
with P(unsafe) = 0.73 at the verdict token), converted to a float32 GGUF by llama.cpp's own
``convert_hf_to_gguf.py``. Servers run on free loopback ports with a 2,048-token context
(llama-cpp-python's default), behind a recording proxy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._support.lanes import mark_lane
from tests.llamacpp.llamacpp_lane import Server, build_gguf, serve
from tests.local.meta_tokenizers import WheelUnavailable

HERE = Path(__file__).resolve().parent

ENABLED = os.environ.get("LLAMASHIELD_LLAMACPP") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mark_lane(items, HERE, "llamacpp", ENABLED, "llama.cpp lane: python3 dev.py test-llamacpp")


@pytest.fixture(scope="session")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return build_gguf(tmp_path_factory.mktemp("llamacpp"))
    except WheelUnavailable as exc:
        pytest.skip(f"Meta's tokenizer is not reachable: {exc}")


@pytest.fixture(scope="session", params=["llama_cpp.server", "llama-server"])
def server(
    request: pytest.FixtureRequest, gguf: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    yield from serve(request.param, gguf, tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="session")
def prefilling(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``llama-server`` as it starts by default: it prefills a trailing assistant message."""
    yield from serve("llama-server-prefill", gguf, tmp_path_factory.mktemp("logs"))


@pytest.fixture
def recorded(server: Server) -> Iterator[Server]:
    server.recorder.clear()
    yield server


@pytest.fixture(scope="session")
def no_bos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``llama_cpp.server`` on a GGUF whose ``add_bos_token`` is false."""
    try:
        model = build_gguf(tmp_path_factory.mktemp("no-bos"), add_bos=False)
    except WheelUnavailable as exc:
        pytest.skip(f"Meta's tokenizer is not reachable: {exc}")
    yield from serve("llama_cpp.server", model, tmp_path_factory.mktemp("logs"))
