"""INT8 quality gate: an INT8 artifact ships only if it classifies the validation split (almost) as well as FP32.

Defaults (``ExportConfig``): overall accuracy may drop at most 1 point and no class's recall more than 3
points. A failure names the classes and how many of their validation inputs changed answer (on a class with 7
inputs one flip is 14 points), so the user knows whether to add validation/calibration data or ship FP32.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


def classification_figures(probabilities: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class recall, in points (0-100)."""
    predicted = np.asarray(probabilities).argmax(axis=1)
    recall, f1 = [], []
    for c in range(num_classes):
        true_c, pred_c = labels == c, predicted == c
        tp = float(np.sum(true_c & pred_c))
        r = tp / true_c.sum() if true_c.any() else float("nan")
        p = tp / pred_c.sum() if pred_c.any() else 0.0
        recall.append(100.0 * r)
        f1.append(0.0 if (np.isnan(r) or p + r == 0) else 100.0 * 2 * p * r / (p + r))
    present = [i for i in range(num_classes) if (labels == i).any()]
    return {
        "accuracy": 100.0 * float(np.mean(predicted == labels)),
        "macro_f1": float(np.mean([f1[i] for i in present])) if present else float("nan"),
        "recall": recall,
    }


@dataclass
class GateResult:
    passed: bool
    samples: int
    fp32_accuracy: float
    int8_accuracy: float
    accuracy_drop: float
    fp32_macro_f1: float
    int8_macro_f1: float
    recall_drop: dict[str, float]
    failing_classes: list[str] = field(default_factory=list)
    reason: str = ""
    class_samples: dict[str, int] = field(default_factory=dict)  # validation inputs per class

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def quality_gate(
    fp32_probabilities: np.ndarray,
    int8_probabilities: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    max_accuracy_drop: float,
    max_class_recall_drop: float,
) -> GateResult:
    fp32 = classification_figures(fp32_probabilities, labels, len(class_names))
    int8 = classification_figures(int8_probabilities, labels, len(class_names))
    drops = {
        name: round(fp32["recall"][i] - int8["recall"][i], 3)
        for i, name in enumerate(class_names)
        if not np.isnan(fp32["recall"][i])
    }
    counts = {name: int(np.sum(labels == i)) for i, name in enumerate(class_names)}
    failing = [name for name, drop in drops.items() if drop > max_class_recall_drop]
    accuracy_drop = fp32["accuracy"] - int8["accuracy"]
    reasons = []
    if accuracy_drop > max_accuracy_drop:
        reasons.append(f"accuracy dropped {accuracy_drop:.1f} points (limit {max_accuracy_drop:g})")
    if failing:
        reasons.append(
            "recall dropped more than "
            f"{max_class_recall_drop:g} points for "
            + ", ".join(
                f"{n} (-{drops[n]:.1f}: {round(drops[n] * counts[n] / 100)} of {counts[n]} inputs)" for n in failing
            )
        )
    return GateResult(
        not reasons,
        int(len(labels)),
        fp32["accuracy"],
        int8["accuracy"],
        accuracy_drop,
        fp32["macro_f1"],
        int8["macro_f1"],
        drops,
        failing,
        "; ".join(reasons),
        counts,
    )
