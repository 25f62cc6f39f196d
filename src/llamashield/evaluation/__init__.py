"""Evaluate a guard on labelled data: metrics, a report, plots.

Example::

    from llamashield import LlamaGuard
    from llamashield.backends import SimulatedBackend
    from llamashield.evaluation import evaluate, load_rows, load_sample

    guard = LlamaGuard(SimulatedBackend())
    report = evaluate(guard, load_sample())            # or load_rows("mine.jsonl")
    report.print(); report.write_json("report.json"); report.plot("plots/")

    # a public benchmark as published (openai, toxicchat, beavertails, aegis2, xstest)
    rows = load_rows("samples-1680.jsonl.gz", preset="openai", taxonomy=guard.taxonomy)
    report = evaluate(guard, rows)              # the rows carry their preset
    report.model.headline, report.model.published  # yours; Meta's model cards' for the same set
    report.model.dataset                           # records read, skipped (and why), counts

The same from the shell: ``llamashield eval --sample --plots plots/``,
``llamashield eval samples-1680.jsonl.gz --preset openai``. The pure pieces
(``_metrics``, ``_mapping``, ``_dataset``) need nothing beyond the core; printing needs rich and
plots need matplotlib (both in ``llamashield[cli]``).
"""

from llamashield._public import relabel
from llamashield.evaluation._batch import evaluate_batch
from llamashield.evaluation._batch_requests import BatchMismatchError
from llamashield.evaluation._dataset import (
    ColumnMap,
    DatasetError,
    EvalRow,
    LoadedRows,
    load_rows,
    load_sample,
    parse_label,
)
from llamashield.evaluation._evaluate import aevaluate, evaluate
from llamashield.evaluation._mapping import BUILTIN_MAPPINGS, CategoryMapping, load_mapping
from llamashield.evaluation._metrics import (
    BinaryMetrics,
    average_precision,
    binary_metrics,
    percentile,
    precision_recall_curve,
)
from llamashield.evaluation._presets import PRESETS, Preset, get_preset, matching_presets
from llamashield.evaluation._published import PUBLISHED, published_figures
from llamashield.evaluation._report import EvalReport, build_report
from llamashield.evaluation._report_model import (
    DatasetSummary,
    Headline,
    PublishedFigure,
    ReportData,
)
from llamashield.evaluation._runner import RowResult, arun_rows, run_rows

__all__ = [
    "BUILTIN_MAPPINGS",
    "PRESETS",
    "PUBLISHED",
    "BatchMismatchError",
    "BinaryMetrics",
    "CategoryMapping",
    "ColumnMap",
    "DatasetError",
    "DatasetSummary",
    "EvalReport",
    "EvalRow",
    "Headline",
    "LoadedRows",
    "Preset",
    "PublishedFigure",
    "ReportData",
    "RowResult",
    "aevaluate",
    "arun_rows",
    "average_precision",
    "binary_metrics",
    "build_report",
    "evaluate",
    "evaluate_batch",
    "get_preset",
    "load_mapping",
    "load_rows",
    "load_sample",
    "matching_presets",
    "parse_label",
    "percentile",
    "precision_recall_curve",
    "published_figures",
    "run_rows",
]

relabel(__name__, __all__, globals())  # ``llamashield.evaluation.EvalReport`` in reprs
