"""Accuracy, macro-F1 and per-class recall from integer labels and predictions (no sklearn needed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassificationScores:
    accuracy: float  # fractions in [0, 1]
    macro_f1: float
    per_class_recall: dict[str, float]  # only classes present in the test set


def classification_scores(labels: np.ndarray, predictions: np.ndarray, class_names: list[str]) -> ClassificationScores:
    """Scores over ``len(class_names)`` classes.

    Macro-F1 averages over the classes present in the test set (a class the test set lacks has no defined
    recall, and counting it as 0 would punish a model for the test set's gaps).
    """
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape or labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"need two equal non-empty 1-D arrays; got {labels.shape} and {predictions.shape}")
    num_classes = len(class_names)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    true_positives = np.diag(confusion).astype(float)
    support = confusion.sum(axis=1).astype(float)
    predicted = confusion.sum(axis=0).astype(float)
    present = support > 0
    recall = np.divide(true_positives, support, out=np.zeros(num_classes), where=present)
    precision = np.divide(true_positives, predicted, out=np.zeros(num_classes), where=predicted > 0)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros(num_classes), where=(precision + recall) > 0
    )
    return ClassificationScores(
        accuracy=float(true_positives.sum() / labels.size),
        macro_f1=float(f1[present].mean()),
        per_class_recall={class_names[i]: float(recall[i]) for i in range(num_classes) if present[i]},
    )
