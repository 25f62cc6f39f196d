"""Execute the notebooks offline and keep them committed with their outputs.

``python3 dev.py notebooks [NAME...]`` runs this file: each notebook runs top to bottom on the
simulator (no ``TOGETHER_API_KEY``; matplotlib's Agg backend) with the kernel of the running
Python, and is written back with its outputs, so a reader browsing the repository sees the
tables and plots. ``tests/notebooks/test_notebooks.py`` runs each notebook the same way and
fails when its outputs no longer match the committed ones.

Outputs are compared after ``normalised``: what changes from run to run without meaning
anything (latencies measured on the loopback server, temporary folders, object addresses,
image bytes) is masked there. A notebook whose outputs differ from the committed ones only in
those parts is left as committed, so regenerating does not churn the repository; execution
timings are never stored.
"""

from __future__ import annotations

import copy
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbclient
import nbformat

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
TIMEOUT_S = 120  # per cell
# Cells tagged so read the published data sets in shared/data (kept outside the project): where
# the folder is absent they print that they skipped, and their outputs are not compared.
NEEDS_SHARED_DATA = "needs-shared-data"


def shared_data_folder() -> Path:
    """``LLAMASHIELD_SHARED_DATA``, else ``shared/data`` beside the clone (as tests/eval reads)."""
    configured = os.environ.get("LLAMASHIELD_SHARED_DATA")
    return Path(configured) if configured else REPO.parent / "shared" / "data"

_TEMP = re.escape(tempfile.gettempdir().rstrip("/\\"))
_VOLATILE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(_TEMP + r"[/\\][\w.\-/\\]*"), "<tmp>"),  # tempfile.mkdtemp() folders
    (re.compile(r"0x[0-9a-fA-F]{6,}"), "0x<address>"),
    (re.compile(r"(127\.0\.0\.1|localhost):\d+"), r"\1:<port>"),  # the loopback server's
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    # latencies and rates measured on this machine: "p95 11.3", "latency_ms': 10.52",
    # "12.4 ms", "3.1 rows/s"
    (re.compile(r"\b(p50|p95|p99|mean|max|latency_ms|latency)(['\"]?[\s:=(]*)\d+(?:\.\d+)?"),
     r"\1\2<ms>"),  # fmt: skip
    (re.compile(r"\((ms|s)\)(\s*)\d+(?:\.\d+)?"), r"(\1)\2<ms>"),  # "p95 (ms) 11.3"
    (re.compile(r"\d+(?:\.\d+)?(\s*(?:ms|s|rows/s)\b)"), r"<n>\1"),
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _mask(text: str) -> str:
    text = _ANSI.sub("", text)  # rich's colours split "p95 11.3" apart
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def _output(output: dict[str, Any]) -> dict[str, Any]:
    kind = output["output_type"]
    if kind == "stream":
        return {"type": kind, "name": output["name"], "text": _mask(output["text"])}
    if kind == "error":
        return {"type": kind, "ename": output["ename"], "evalue": _mask(output["evalue"])}
    data = output.get("data", {})
    # text/html repeats text/plain (rich writes both) with its numbers inside <span>s: the
    # plain text is compared, the other kinds only by being there
    shown = {
        mime: (_mask(_joined(value)) if mime == "text/plain" else f"<{mime}>")
        for mime, value in data.items()
    }
    return {"type": kind, "data": shown}


def _joined(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def normalised(notebook: Any, *, shared_data: bool = True) -> list[list[dict[str, Any]]]:
    """Each code cell's outputs with the volatile parts masked: what must match. Without the
    shared data (``shared_data=False``) the cells that read it count as empty."""
    return [
        [_output(output) for output in _coalesced(cell.get("outputs", []))]
        if shared_data or NEEDS_SHARED_DATA not in cell.metadata.get("tags", [])
        else []
        for cell in notebook.cells
        if cell.cell_type == "code"
    ]


def _coalesced(outputs: list[Any]) -> list[Any]:
    """Consecutive prints to one stream as one output (the kernel splits them as it flushes)."""
    merged: list[Any] = []
    for output in outputs:
        last = merged[-1] if merged else None
        if (
            last is not None and output["output_type"] == last["output_type"] == "stream"
            and output["name"] == last["name"]
        ):  # fmt: skip
            last["text"] = _joined(last["text"]) + _joined(output["text"])
        else:
            merged.append(copy.deepcopy(output))
    return merged


@contextmanager
def _offline() -> Iterator[None]:
    """The environment the kernel inherits: no Together key, plots without a display, one
    hash seed."""
    saved = dict(os.environ)
    os.environ.pop("TOGETHER_API_KEY", None)
    os.environ["MPLBACKEND"] = "Agg"
    # ties in the RAG notebook's toy retriever fall in set order, which hashing randomises
    os.environ["PYTHONHASHSEED"] = "0"
    os.environ["LLAMASHIELD_SHARED_DATA"] = str(shared_data_folder())
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def execute(path: Path) -> Any:
    """Run ``path`` top to bottom offline in a scratch folder; the notebook with its outputs.

    Raises nbclient's ``CellExecutionError`` (with the cell's traceback) when a cell fails.
    """
    notebook = nbformat.read(path, as_version=4)
    with _offline(), tempfile.TemporaryDirectory(prefix="llamashield-nb-") as scratch:
        client = nbclient.NotebookClient(
            notebook, timeout=TIMEOUT_S, kernel_name="python3", record_timing=False,
            resources={"metadata": {"path": scratch}},
        )  # fmt: skip
        client.execute()
    return _stripped(notebook)


def _stripped(notebook: Any) -> Any:
    """No execution timings, no per-run kernel metadata: only what the cells produced."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = _coalesced(cell.outputs)
    notebook.metadata.pop("widgets", None)
    return notebook


def regenerate(path: Path) -> str:
    """Execute ``path`` and write it back when its outputs changed in meaning."""
    committed = nbformat.read(path, as_version=4)
    fresh = execute(path)
    if normalised(fresh) == normalised(committed) and _sources(fresh) == _sources(committed):
        return "unchanged"
    nbformat.write(fresh, path)
    return "written"


def _no_shared_data() -> bool:
    return not (shared_data_folder() / "SOURCES.md").is_file()


def _sources(notebook: Any) -> list[str]:
    return [cell.source for cell in notebook.cells]


def main(names: list[str]) -> int:
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    chosen = [p for p in paths if not names or any(name in p.name for name in names)]
    if not chosen:
        print(f"no notebook matches {' '.join(names)} in {NOTEBOOKS}", file=sys.stderr)
        return 2
    if _no_shared_data():  # the committed outputs show the published sets: never drop them
        print(
            f"the published data sets are not in {shared_data_folder()}: set "
            "LLAMASHIELD_SHARED_DATA to the shared/data folder before regenerating",
            file=sys.stderr,
        )
        return 2
    for path in chosen:
        print(f"{path.name}: {regenerate(path)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
