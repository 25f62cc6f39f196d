"""Pure metrics for a guard's verdicts: no I/O, no third-party imports, checkable by hand.

The positive class is *unsafe*: recall is the share of unsafe rows the guard flagged, the
false-positive rate the share of safe rows it flagged. An undefined ratio (no positive
predictions, no unsafe rows...) is ``None`` rather than a made-up 0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "BinaryMetrics",
    "CategoryMetrics",
    "PRPoint",
    "average_precision",
    "binary_metrics",
    "category_confusion",
    "category_metrics",
    "latency_summary",
    "percentile",
    "precision_recall_curve",
    "threshold_sweep",
]


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True, slots=True)
class BinaryMetrics:
    """Confusion counts (unsafe is positive) and the ratios derived from them.

    Example::

        >>> m = binary_metrics([True, True, False, False], [True, False, True, False])
        >>> (m.tp, m.fn, m.fp, m.tn), m.precision, m.recall, m.fpr
        ((1, 1, 1, 1), 0.5, 0.5, 0.5)
    """

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def accuracy(self) -> float | None:
        return _ratio(self.tp + self.tn, self.total)

    @property
    def precision(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float | None:
        # 2TP / (2TP + FP + FN): the harmonic mean of precision and recall, defined whenever
        # there is at least one unsafe row or one unsafe prediction.
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def fpr(self) -> float | None:
        return _ratio(self.fp, self.fp + self.tn)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = asdict(self)
        for name in ("accuracy", "precision", "recall", "f1", "fpr"):
            data[name] = getattr(self, name)
        return data


def binary_metrics(labels: Sequence[bool], predictions: Sequence[bool]) -> BinaryMetrics:
    """Count TP/FP/TN/FN; ``labels[i]`` and ``predictions[i]`` are True for unsafe."""
    if len(labels) != len(predictions):
        raise ValueError(f"{len(labels)} labels but {len(predictions)} predictions")
    pairs = Counter(zip(labels, predictions, strict=True))
    return BinaryMetrics(
        tp=pairs[(True, True)],
        fp=pairs[(False, True)],
        tn=pairs[(False, False)],
        fn=pairs[(True, False)],
    )


@dataclass(frozen=True, slots=True)
class PRPoint:
    """Precision and recall when everything scoring ``>= threshold`` is called unsafe."""

    threshold: float
    precision: float
    recall: float


def _check_scores(labels: Sequence[bool], scores: Sequence[float]) -> None:
    if len(labels) != len(scores):
        raise ValueError(f"{len(labels)} labels but {len(scores)} scores")
    for score in scores:
        if not (isinstance(score, int | float) and math.isfinite(score)):
            raise ValueError(f"scores must be finite numbers, got {score!r}")


def precision_recall_curve(labels: Sequence[bool], scores: Sequence[float]) -> list[PRPoint]:
    """One point per distinct score, highest threshold first; empty without unsafe rows.

    Tied scores form one threshold (they cannot be separated), as in scikit-learn.
    """
    _check_scores(labels, scores)
    positives = sum(1 for label in labels if label)
    if positives == 0:
        return []
    ranked = sorted(zip(scores, labels, strict=True), key=lambda pair: -pair[0])
    points: list[PRPoint] = []
    tp = fp = 0
    index = 0
    while index < len(ranked):
        threshold = ranked[index][0]
        while index < len(ranked) and ranked[index][0] == threshold:
            if ranked[index][1]:
                tp += 1
            else:
                fp += 1
            index += 1
        points.append(PRPoint(float(threshold), tp / (tp + fp), tp / positives))
    return points


def average_precision(labels: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the precision-recall curve as average precision: sum of (R_k - R_k-1) * P_k.

    The step-wise sum (scikit-learn's ``average_precision_score``) rather than the trapezoid,
    which overestimates the area when precision falls between points. ``None`` without unsafe rows.
    """
    curve = precision_recall_curve(labels, scores)
    if not curve:
        return None
    area = 0.0
    previous_recall = 0.0
    for point in curve:
        area += (point.recall - previous_recall) * point.precision
        previous_recall = point.recall
    return area


def threshold_sweep(
    labels: Sequence[bool], scores: Sequence[float], thresholds: Iterable[float]
) -> list[tuple[float, BinaryMetrics]]:
    """Re-decide every row as ``score >= threshold`` (the guard's ``threshold=`` rule)."""
    _check_scores(labels, scores)
    return [
        (float(t), binary_metrics(labels, [score >= t for score in scores])) for t in thresholds
    ]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile with linear interpolation between ranks (numpy's default)."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float | int | None]:
    """Count, mean, p50/p95/p99 and max of per-row latencies in milliseconds."""
    count = len(latencies_ms)
    return {
        "count": count,
        "mean": sum(latencies_ms) / count if count else None,
        "p50": percentile(latencies_ms, 50),
        "p95": percentile(latencies_ms, 95),
        "p99": percentile(latencies_ms, 99),
        "max": max(latencies_ms) if count else None,
    }


@dataclass(frozen=True, slots=True)
class CategoryMetrics:
    """How the guard did on rows labelled with one category.

    ``detected`` rows were flagged unsafe at all; ``matched`` rows were flagged with this very
    category. ``false_positives`` counts safe-labelled rows the guard put in this category.
    """

    code: str
    support: int
    detected: int
    matched: int
    false_positives: int

    @property
    def recall(self) -> float | None:
        return _ratio(self.detected, self.support)

    @property
    def category_recall(self) -> float | None:
        return _ratio(self.matched, self.support)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = asdict(self)
        data["recall"] = self.recall
        data["category_recall"] = self.category_recall
        return data


def category_metrics(
    expected: Sequence[Sequence[str]],
    predicted_unsafe: Sequence[bool],
    predicted: Sequence[Sequence[str]],
    labels: Sequence[bool],
    order: Sequence[str] = (),
) -> list[CategoryMetrics]:
    """Per-category recall, for every category that appears in the labels or predictions.

    ``expected[i]`` are the labelled codes of row i, ``predicted[i]`` the codes the guard gave;
    ``order`` sorts the result (the taxonomy's codes), unknown codes go last.
    """
    if not len(expected) == len(predicted_unsafe) == len(predicted) == len(labels):
        raise ValueError("expected, predicted_unsafe, predicted and labels differ in length")
    support: Counter[str] = Counter()
    detected: Counter[str] = Counter()
    matched: Counter[str] = Counter()
    false_positives: Counter[str] = Counter()
    for want, flagged, got, unsafe in zip(
        expected, predicted_unsafe, predicted, labels, strict=True
    ):
        for code in set(want):
            support[code] += 1
            detected[code] += flagged
            matched[code] += code in got
        if not unsafe:
            for code in set(got):
                false_positives[code] += 1
    codes = set(support) | set(false_positives)
    rank = {code: i for i, code in enumerate(order)}
    ordered = sorted(codes, key=lambda c: (rank.get(c, len(rank)), c))
    return [
        CategoryMetrics(c, support[c], detected[c], matched[c], false_positives[c]) for c in ordered
    ]


def category_confusion(
    expected: Sequence[Sequence[str]],
    labels: Sequence[bool],
    predicted_unsafe: Sequence[bool],
    predicted: Sequence[Sequence[str]],
) -> dict[str, dict[str, int]]:
    """``counts[expected][predicted]``: each labelled category (or "safe", or "unsafe" for an
    unsafe row without categories) against each predicted one (or "safe"/"unsafe" likewise).

    Multi-label rows count once per (expected, predicted) pair, so a row's cells can sum to more
    than one.
    """
    counts: dict[str, Counter[str]] = {}
    for want, unsafe, flagged, got in zip(
        expected, labels, predicted_unsafe, predicted, strict=True
    ):
        rows = list(dict.fromkeys(want)) or ["unsafe" if unsafe else "safe"]
        columns = list(dict.fromkeys(got)) if flagged and got else ["unsafe" if flagged else "safe"]
        for r in rows:
            counter = counts.setdefault(r, Counter())
            for c in columns:
                counter[c] += 1
    return {r: dict(c) for r, c in counts.items()}
