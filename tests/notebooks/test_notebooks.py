"""Execute every notebook top to bottom, offline (loopback server or simulator), with nbclient,
and compare its outputs with the committed ones.

The notebooks are committed executed (``python3 dev.py notebooks`` regenerates them, see
``executed.py``), so a reader sees tables and plots. A notebook fails here when a cell errors or
when what it produces no longer matches what is committed, once the parts that change from run
to run (latencies, temporary folders, image bytes) are masked. A notebook is skipped only when
the adapter package it demonstrates is not importable; the skip reason names it.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip(
    "nbformat", reason="notebook tests need nbformat (pip install nbformat)"
)
nbclient = pytest.importorskip(
    "nbclient", reason="notebook tests need nbclient (pip install nbclient)"
)
pytest.importorskip("ipykernel", reason="notebook tests need ipykernel (pip install ipykernel)")

from tests.notebooks import executed  # (tests/notebooks/executed.py, also run by dev.py notebooks)

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

# The packages each notebook demonstrates, beyond the core.
REQUIRES: dict[str, tuple[str, ...]] = {
    "01_guard_a_langchain_chain.ipynb": ("langchain_llamashield",),
    "02_guard_a_llamaindex_rag_engine.ipynb": ("llama_index.llamashield",),
    "03_guard_agent_tools.ipynb": ("langchain_llamashield", "langchain", "llama_index.llamashield"),
    "04_evaluate_a_guard.ipynb": ("matplotlib",),
    "05_images_llama_guard_4.ipynb": ("langchain_llamashield", "llama_index.llamashield"),
}


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package
        return False


def test_every_notebook_is_listed() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(REQUIRES)


def _difference(committed: list[Any], fresh: list[Any]) -> str:
    for index, (before, after) in enumerate(zip(committed, fresh, strict=False)):
        if before != after:
            return f"code cell {index + 1}: committed {before!r:.600}, now {after!r:.600}"
    return f"{len(committed)} code cells committed, {len(fresh)} now"


@pytest.mark.parametrize("name", sorted(REQUIRES))
def test_committed_with_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count is not None for cell in code), (
        f"{name} is committed without outputs: run python3 dev.py notebooks"
    )
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    assert not any("execution" in cell.metadata for cell in notebook.cells)  # no timings


@pytest.mark.parametrize("name", sorted(REQUIRES))
def test_notebook_runs_offline_and_matches_what_is_committed(name: str) -> None:
    path = NOTEBOOKS / name
    if not path.exists():
        pytest.fail(f"{name} is missing from notebooks/")
    missing = [m for m in REQUIRES[name] if not _importable(m)]
    if missing:
        pytest.skip(f"{name} needs {', '.join(missing)}, which is not installed")
    committed = nbformat.read(path, as_version=4)
    fresh = executed.execute(path)  # raises CellExecutionError with the failing cell's traceback
    errors = [
        output
        for cell in fresh.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors
    assert any(cell.outputs for cell in fresh.cells if cell.cell_type == "code")
    # without shared/data the cells reading the published sets print a skip; not compared
    shared = (executed.shared_data_folder() / "SOURCES.md").is_file()
    before = executed.normalised(committed, shared_data=shared)
    after = executed.normalised(fresh, shared_data=shared)
    assert after == before, (
        f"{name} no longer produces its committed outputs ({_difference(before, after)}); "
        "run python3 dev.py notebooks and commit the result"
    )


def test_masking_keeps_what_matters() -> None:
    """The comparison ignores run-to-run noise, and nothing else."""
    temp = tempfile.gettempdir()
    noisy = f"latency ms p50 10.3 p95 12.9 in {temp}/llamashield-eval-x1/a.png at 0x7f3a2b1c9d80"
    quiet = f"latency ms p50 11.0 p95 30.1 in {temp}/llamashield-eval-y2/a.png at 0x7f00aa11bb22"
    assert executed._mask(noisy) == executed._mask(quiet)
    assert executed._mask("F1 0.873 FPR 0.167") != executed._mask("F1 0.874 FPR 0.167")
    assert executed._mask("522 unsafe of 1680 rows") != executed._mask("521 unsafe of 1680 rows")
