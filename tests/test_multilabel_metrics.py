"""Per-class thresholds and detection figures on scores whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from nightscan_edge.multilabel_metrics import choose_thresholds, detection_report, mean_average_precision

# one class, six clips ranked by score: positives at ranks 1, 2, 4 (scores 0.9, 0.8, 0.6)
SCORES = np.array([[0.9], [0.8], [0.7], [0.6], [0.3], [0.2]])
TRUTH = np.array([[1], [1], [0], [1], [0], [0]])


def test_best_f1_and_target_precision_thresholds():
    # cut at 0.6: P 3/4, R 1 -> F1 0.857 (best); cut at 0.8: P 1, R 2/3 -> F1 0.8
    assert choose_thresholds(SCORES, TRUTH, "best_f1").tolist() == pytest.approx([0.6])
    # the lowest cut with precision >= 0.9 is 0.8 (most recall at that precision)
    assert choose_thresholds(SCORES, TRUTH, "target_precision", 0.9).tolist() == pytest.approx([0.8])


def test_report_at_the_thresholds_and_classes_without_positives():
    scores = np.hstack([SCORES, SCORES[::-1]])
    truth = np.hstack([TRUTH, np.zeros_like(TRUTH)])  # the second class never occurs
    report = detection_report(scores, truth, ["owl", "frog"], [0.6, 0.5])
    owl = report["per_class"]["owl"]
    assert owl["ap"] == pytest.approx((1 + 1 + 3 / 4) / 3) and owl["auroc"] == pytest.approx(8 / 9)
    assert (owl["precision"], owl["recall"], owl["support"]) == (pytest.approx(0.75), 1.0, 3)
    assert report["per_class"]["frog"]["ap"] is None  # nothing to rank: not a zero
    assert report["map"] == pytest.approx(owl["ap"]) == pytest.approx(mean_average_precision(scores, truth))
    assert report["negatives"] == 3 and len(report["pr_curves"]["owl"]["thresholds"]) >= 2
