"""Detection figures of a multi-label model (torchmetrics): per-class average precision and AUROC, their means,
per-class thresholds chosen on validation, and F1 / precision / recall at those thresholds.

On the ground floor because three floors judge the same figures the same way: training chooses the thresholds and
writes ``report.json``, ``bench`` scores exported files, and export's INT8 gate compares per-class AP. Average
precision is threshold-free (how well a class's scores rank its positives above everything else), so it is what
checkpoints and the INT8 gate compare; the thresholds turn scores into detections afterwards.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
from torchmetrics.functional.classification import (
    binary_precision_recall_curve,
    multilabel_auroc,
    multilabel_average_precision,
)

ThresholdRule = Literal["best_f1", "target_precision"]
DEFAULT_THRESHOLD = 0.5  # a class without validation positives (no curve to choose on)
CURVE_POINTS = 101  # points kept of each precision-recall curve in report.json (a plot needs no more)


def _tensors(probabilities: np.ndarray | torch.Tensor, targets: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, ...]:
    scores = torch.as_tensor(np.asarray(probabilities, dtype=np.float32))
    truth = torch.as_tensor(np.asarray(targets) > 0.5).to(torch.int64)
    if scores.ndim != 2 or scores.shape != truth.shape or scores.shape[0] == 0:
        raise ValueError(f"need two equal non-empty (N, C) arrays; got {tuple(scores.shape)} and {tuple(truth.shape)}")
    return scores, truth


def per_class_average_precision(
    probabilities: np.ndarray | torch.Tensor, targets: np.ndarray | torch.Tensor
) -> np.ndarray:
    """AP of each class (NaN for a class without positives: it has nothing to rank)."""
    scores, truth = _tensors(probabilities, targets)
    values = multilabel_average_precision(scores, truth, num_labels=scores.shape[1], average=None)
    ap = np.asarray(values, dtype=np.float64)
    ap[truth.sum(0).numpy() == 0] = np.nan
    return ap


def mean_average_precision(probabilities: np.ndarray | torch.Tensor, targets: np.ndarray | torch.Tensor) -> float:
    """mAP over the classes that have positives (a class a set lacks has no defined AP; counting it as 0 would
    punish the model for the set's gaps). NaN when no class has a positive."""
    ap = per_class_average_precision(probabilities, targets)
    return float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")


def choose_thresholds(
    probabilities: np.ndarray | torch.Tensor,
    targets: np.ndarray | torch.Tensor,
    rule: ThresholdRule = "best_f1",
    target_precision: float = 0.9,
) -> np.ndarray:
    """One threshold per class from its precision-recall curve: the best-F1 point, or the lowest threshold whose
    precision reaches ``target_precision`` (most recall at that precision; the most precise point when none does).
    A class without positives keeps ``DEFAULT_THRESHOLD``."""
    scores, truth = _tensors(probabilities, targets)
    chosen = np.full(scores.shape[1], DEFAULT_THRESHOLD, dtype=np.float64)
    for column in range(scores.shape[1]):
        if int(truth[:, column].sum()) == 0:
            continue
        curve = binary_precision_recall_curve(scores[:, column], truth[:, column])
        precision, recall = curve[0][:-1].numpy(), curve[1][:-1].numpy()  # the last point has no threshold
        cuts = curve[2].numpy()
        if rule == "target_precision":
            reaching = np.flatnonzero(precision >= target_precision - 1e-12)
            index = int(reaching[np.argmax(recall[reaching])]) if reaching.size else int(np.argmax(precision))
        else:
            f1 = np.divide(
                2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=(precision + recall) > 0
            )
            index = int(np.argmax(f1))
        chosen[column] = float(cuts[index])
    return chosen


@dataclass(frozen=True)
class ClassDetection:
    """One class's figures at its threshold."""

    ap: float | None  # None: no positive to rank
    auroc: float | None  # None: no positive or no negative
    f1: float
    precision: float
    recall: float
    threshold: float
    support: int  # clips positive for the class


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else 0.0


def detections(probabilities: np.ndarray | torch.Tensor, thresholds: np.ndarray | list[float]) -> np.ndarray:
    """``(N, C)`` bool: each class above (or at) its own threshold."""
    return np.asarray(probabilities, dtype=np.float64) >= np.asarray(thresholds, dtype=np.float64)[None, :]


def class_detections(
    probabilities: np.ndarray | torch.Tensor,
    targets: np.ndarray | torch.Tensor,
    labels: list[str],
    thresholds: np.ndarray | list[float],
) -> dict[str, ClassDetection]:
    scores, truth = _tensors(probabilities, targets)
    ap = per_class_average_precision(scores, truth)
    with_both = (truth.sum(0) > 0) & (truth.sum(0) < truth.shape[0])
    auroc = np.full(len(labels), np.nan)
    if bool(with_both.any()):
        values = multilabel_auroc(scores, truth, num_labels=len(labels), average=None)
        auroc[with_both.numpy()] = np.asarray(values, dtype=np.float64)[with_both.numpy()]
    predicted = detections(scores.numpy(), thresholds)
    positive = truth.numpy().astype(bool)
    out = {}
    for column, label in enumerate(labels):
        true_pos = float((predicted[:, column] & positive[:, column]).sum())
        precision = _ratio(true_pos, float(predicted[:, column].sum()))
        recall = _ratio(true_pos, float(positive[:, column].sum()))
        out[label] = ClassDetection(
            ap=float(ap[column]) if np.isfinite(ap[column]) else None,
            auroc=float(auroc[column]) if np.isfinite(auroc[column]) else None,
            f1=_ratio(2 * precision * recall, precision + recall),
            precision=precision,
            recall=recall,
            threshold=float(np.asarray(thresholds)[column]),
            support=int(positive[:, column].sum()),
        )
    return out


def precision_recall_curves(
    probabilities: np.ndarray | torch.Tensor, targets: np.ndarray | torch.Tensor, labels: list[str]
) -> dict[str, dict[str, list[float]]]:
    """Per class ``{precision, recall, thresholds}`` lists, thinned to at most ``CURVE_POINTS`` points (recall
    falling as the threshold rises), for the web's precision-recall plots."""
    scores, truth = _tensors(probabilities, targets)
    curves: dict[str, dict[str, list[float]]] = {}
    for column, label in enumerate(labels):
        if int(truth[:, column].sum()) == 0:
            continue
        precision, recall, thresholds = binary_precision_recall_curve(scores[:, column], truth[:, column])
        keep = np.unique(np.linspace(0, len(thresholds) - 1, min(CURVE_POINTS, len(thresholds))).round().astype(int))
        curves[label] = {
            "precision": [round(float(v), 4) for v in precision[:-1].numpy()[keep]],
            "recall": [round(float(v), 4) for v in recall[:-1].numpy()[keep]],
            "thresholds": [round(float(v), 4) for v in thresholds.numpy()[keep]],
        }
    return curves


def detection_report(
    probabilities: np.ndarray | torch.Tensor,
    targets: np.ndarray | torch.Tensor,
    labels: list[str],
    thresholds: np.ndarray | list[float],
) -> dict[str, Any]:
    """The figures ``report.json`` (its ``multilabel`` section: ``objective.MultilabelReport``) and ``bench`` write
    for a multi-label model on one split; undefined figures are None."""
    per_class = class_detections(probabilities, targets, labels, thresholds)
    figures = list(per_class.values())
    present = [c for c in figures if c.support > 0]

    def mean(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return float(np.mean(known)) if known else None

    truth = np.asarray(targets) > 0.5
    predicted = detections(probabilities, thresholds)
    return {
        "map": mean([c.ap for c in present]),
        "mean_auroc": mean([c.auroc for c in present]),
        "macro_f1": mean([c.f1 for c in present]) or 0.0,
        # every class of a clip decided right (its labels found, nothing else reported)
        "exact_match": float((predicted == truth).all(axis=1).mean()),
        "per_class": {label: asdict(figure) for label, figure in per_class.items()},
        "pr_curves": precision_recall_curves(probabilities, targets, labels),
        "samples": int(truth.shape[0]),
        "negatives": int((~truth.any(axis=1)).sum()),
    }
