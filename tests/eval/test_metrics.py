"""Metrics against values computed by hand on tiny fixed sets."""

from __future__ import annotations

import pytest

from llamashield.evaluation._metrics import (
    average_precision,
    binary_metrics,
    category_confusion,
    category_metrics,
    latency_summary,
    percentile,
    precision_recall_curve,
    threshold_sweep,
)

# Six rows: unsafe = True. TP: rows 0,1; FN: row 2; FP: row 3; TN: rows 4,5.
LABELS = [True, True, True, False, False, False]
PREDICTIONS = [True, True, False, True, False, False]


def test_binary_metrics_match_hand_computed_values() -> None:
    m = binary_metrics(LABELS, PREDICTIONS)
    assert (m.tp, m.fp, m.tn, m.fn) == (2, 1, 2, 1)
    assert m.accuracy == pytest.approx(4 / 6)
    assert m.precision == pytest.approx(2 / 3)
    assert m.recall == pytest.approx(2 / 3)
    assert m.f1 == pytest.approx(2 * (2 / 3) * (2 / 3) / (2 / 3 + 2 / 3))
    assert m.fpr == pytest.approx(1 / 3)
    assert m.as_dict()["f1"] == pytest.approx(2 / 3)


def test_undefined_ratios_are_none_not_zero() -> None:
    m = binary_metrics([False, False], [False, False])
    assert m.precision is None and m.recall is None and m.f1 is None
    assert m.accuracy == 1.0 and m.fpr == 0.0
    empty = binary_metrics([], [])
    assert empty.accuracy is None and empty.total == 0


def test_binary_metrics_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="2 labels but 1 predictions"):
        binary_metrics([True, False], [True])


def test_average_precision_by_hand() -> None:
    labels = [True, False, True, True, False]
    scores = [0.9, 0.8, 0.7, 0.4, 0.2]
    # threshold: precision, recall
    # 0.9: 1, 1/3; 0.8: 1/2, 1/3; 0.7: 2/3, 2/3; 0.4: 3/4, 1; 0.2: 3/5, 1
    curve = precision_recall_curve(labels, scores)
    assert [(p.threshold, round(p.precision, 4), round(p.recall, 4)) for p in curve] == [
        (0.9, 1.0, 0.3333),
        (0.8, 0.5, 0.3333),
        (0.7, 0.6667, 0.6667),
        (0.4, 0.75, 1.0),
        (0.2, 0.6, 1.0),
    ]
    assert average_precision(labels, scores) == pytest.approx(
        1 / 3 * 1 + 1 / 3 * 2 / 3 + 1 / 3 * 0.75
    )


def test_tied_scores_form_one_threshold() -> None:
    labels = [True, False, True]
    scores = [0.5, 0.5, 0.1]
    curve = precision_recall_curve(labels, scores)
    assert [(p.threshold, p.precision, p.recall) for p in curve] == [
        (0.5, 0.5, 0.5),
        (0.1, 2 / 3, 1.0),
    ]
    assert average_precision(labels, scores) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)


def test_average_precision_is_one_for_a_perfect_ranking_and_none_without_positives() -> None:
    assert average_precision([True, True, False], [0.9, 0.8, 0.1]) == pytest.approx(1.0)
    assert average_precision([False, False], [0.9, 0.1]) is None
    with pytest.raises(ValueError, match="finite"):
        average_precision([True], [float("nan")])


def test_threshold_sweep_redecides_on_score() -> None:
    labels = [True, False, True, True, False]
    scores = [0.9, 0.8, 0.7, 0.4, 0.2]
    sweep = dict(threshold_sweep(labels, scores, [0.5, 0.85]))
    assert (sweep[0.5].tp, sweep[0.5].fp, sweep[0.5].fn, sweep[0.5].tn) == (2, 1, 1, 1)
    assert (sweep[0.85].tp, sweep[0.85].fp, sweep[0.85].fn, sweep[0.85].tn) == (1, 0, 2, 2)


def test_percentiles_interpolate_linearly() -> None:
    values = [40.0, 10.0, 30.0, 20.0]
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 95) == pytest.approx(38.5)  # rank 2.85: 30 + 0.85 * 10
    assert percentile(values, 99) == pytest.approx(39.7)
    assert percentile(values, 0) == 10.0 and percentile(values, 100) == 40.0
    assert percentile([], 50) is None
    summary = latency_summary(values)
    assert summary["count"] == 4 and summary["mean"] == 25.0 and summary["max"] == 40.0
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_category_metrics_and_confusion_by_hand() -> None:
    expected = [("S1",), ("S1", "S9"), ("S9",), (), ()]
    labels = [True, True, True, False, False]
    flagged = [True, True, False, True, False]
    predicted = [("S1",), ("S9",), (), ("S1",), ()]
    by_code = {
        m.code: m for m in category_metrics(expected, flagged, predicted, labels, ["S1", "S9"])
    }
    s1, s9 = by_code["S1"], by_code["S9"]
    assert (s1.support, s1.detected, s1.matched, s1.false_positives) == (2, 2, 1, 1)
    assert s1.recall == 1.0 and s1.category_recall == 0.5
    assert (s9.support, s9.detected, s9.matched, s9.false_positives) == (2, 1, 1, 0)
    assert s9.recall == 0.5
    assert list(by_code) == ["S1", "S9"]

    confusion = category_confusion(expected, labels, flagged, predicted)
    assert confusion == {
        "S1": {"S1": 1, "S9": 1},
        "S9": {"S9": 1, "safe": 1},
        "safe": {"S1": 1, "safe": 1},
    }
