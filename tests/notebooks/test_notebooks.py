"""Execute every notebook top to bottom, offline (loopback server or simulator), with nbclient.

A notebook is skipped only when the adapter package it demonstrates is not importable; the
skip reason names it. Any cell error fails the test with the cell's traceback.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

nbformat = pytest.importorskip(
    "nbformat", reason="notebook tests need nbformat (pip install nbformat)"
)
nbclient = pytest.importorskip(
    "nbclient", reason="notebook tests need nbclient (pip install nbclient)"
)
pytest.importorskip("ipykernel", reason="notebook tests need ipykernel (pip install ipykernel)")

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


@pytest.mark.parametrize("name", sorted(REQUIRES))
def test_notebook_runs_offline(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = NOTEBOOKS / name
    if not path.exists():
        pytest.fail(f"{name} is missing from notebooks/")
    missing = [m for m in REQUIRES[name] if not _importable(m)]
    if missing:
        pytest.skip(f"{name} needs {', '.join(missing)}, which is not installed")
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)  # offline: the kernel inherits this
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    assert all(
        not cell.get("outputs") and cell.get("execution_count") is None
        for cell in notebook.cells
        if cell.cell_type == "code"
    ), f"{name} is committed with outputs; clear them"
    client = nbclient.NotebookClient(
        notebook, timeout=90, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError with the failing cell's traceback
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors
    assert any(cell.outputs for cell in notebook.cells if cell.cell_type == "code")
