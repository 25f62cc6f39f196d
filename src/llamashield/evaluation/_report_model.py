"""The evaluation report as typed data: what ``report.json`` holds, and what tables and plots read.

Pure data (pydantic), no metric code and no printing: ``_report`` builds it, ``_tables`` and
``_plots`` read it, and none of them imports another's module, so there is no import cycle.
The JSON layout is the model's: ``ReportData.model_validate_json(path.read_text())`` reads a
saved report back.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "CategoryScores",
    "Confusion",
    "DatasetSummary",
    "ErrorSummary",
    "Headline",
    "LatencySummary",
    "PRPointData",
    "PublishedFigure",
    "ReportData",
    "RowOutcome",
    "SweepPoint",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Confusion(_Model):
    """Counts with unsafe as the positive class, and the ratios (None where undefined)."""

    tp: int
    fp: int
    tn: int
    fn: int
    accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    fpr: float | None

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.tn + self.fn


class SweepPoint(Confusion):
    threshold: float


class PRPointData(_Model):
    threshold: float
    precision: float
    recall: float


class CategoryScores(_Model):
    code: str
    name: str
    support: int
    detected: int
    matched: int
    false_positives: int
    recall: float | None
    category_recall: float | None


class LatencySummary(_Model):
    count: int
    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


class ErrorSummary(_Model):
    count: int
    messages: dict[str, int] = Field(default_factory=dict)


class RowOutcome(_Model):
    id: str
    role: Literal["user", "agent"]
    label: Literal["safe", "unsafe"]
    categories: list[str]
    predicted: Literal["safe", "unsafe"] | None  # None: the guard could not judge the row
    predicted_categories: list[str]
    score: float | None
    latency_ms: float
    error: str | None
    group: str | None = None


class Headline(_Model):
    """The figures the Llama Guard model cards report, for setting a run beside them.

    ``f1`` and ``fpr`` at the guard's own decision (its default threshold), ``auprc`` on the
    score when the backend gives one; ``measure`` names the one the data set is read for
    (XSTest: ``fpr``, over-refusal).
    """

    f1: float | None
    auprc: float | None
    fpr: float | None
    measure: Literal["f1", "fpr"] = "f1"


class DatasetSummary(_Model):
    """What the loader read: records in the source, rows made, records skipped and why.

    ``counts`` holds facts a preset reports about the records it read (the OpenAI set's
    records with unknown codes); ``groups`` is the number of distinct row groups (XSTest's
    prompt types); ``limit`` is set when ``--limit`` stopped the reading early.
    """

    preset: str | None = None
    records_read: int
    rows: int
    unsafe: int
    skipped: dict[str, int] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    groups: int = 0
    rows_per_group: int | None = None  # when every group has as many rows (XSTest: 25)
    limit: int | None = None

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


class PublishedFigure(_Model):
    """F1 and false-positive rate a Llama Guard model card reports for one model and data set."""

    model: str  # "Llama Guard 2"
    dataset: str  # the preset's name: "xstest"
    f1: float
    fpr: float
    source: str  # the model card's URL
    table: str  # where in the card
    note: str = ""
    same_model: bool = False  # the evaluated model is this one (by its id)


class ReportData(_Model):
    """Everything one evaluation run measured; ``report.json`` is this model as JSON."""

    llamashield_version: str = ""
    model: str = "guard"
    backend: str = ""
    source: str = "rows"
    preset: str | None = None
    concurrency: int | None = None
    created: str
    taxonomy: str
    rows_total: int
    rows_judged: int
    errors: ErrorSummary
    headline: Headline
    overall: Confusion
    by_role: dict[str, Confusion]
    by_group: dict[str, Confusion] = Field(default_factory=dict)
    auprc: float | None
    per_category: list[CategoryScores]
    confusion: dict[str, dict[str, int]]
    latency_ms: LatencySummary
    pr_curve: list[PRPointData]
    threshold_sweep: list[SweepPoint]
    rows: list[RowOutcome]
    notes: list[str] = Field(default_factory=list)
    batch: dict[str, Any] | None = None  # Together Batch API runs: the batch and its counts
    dataset: DatasetSummary | None = None  # what the loader read, skipped and counted
    published: list[PublishedFigure] = Field(default_factory=list)  # model cards, same set

    @model_validator(mode="before")
    @classmethod
    def _headline_of_older_reports(cls, data: Any) -> Any:
        """Reports written before the headline existed: derive it from what they hold."""
        if isinstance(data, dict) and "headline" not in data and "overall" in data:
            overall = data["overall"]
            get = overall.get if isinstance(overall, dict) else lambda key: getattr(overall, key)
            headline = {"f1": get("f1"), "fpr": get("fpr"), "auprc": data.get("auprc")}
            data = {**data, "headline": headline}
        return data
