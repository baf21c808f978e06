"""The INT8 quality gate of a multi-label model: per-class average precision, not accuracy.

A multi-label file has no "top-1 answer" to compare: each class is its own detector, judged by how well its
score ranks the windows that hold it above those that do not (average precision, threshold-free). An INT8 file
ships only if mAP drops at most ``export.max_map_drop`` points and no class's AP more than
``export.max_class_ap_drop`` points (defaults 2 and 3: the issue's "mAP within 0.02 of FP32", and the same per-class
allowance the single-label gate gives recall). A class without positive validation windows
has no AP and is not judged; the verdict lists it under ``unjudged`` so that a missing class is visible. AP is
``multilabel_metrics``' (torchmetrics), the figure training reports.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from nightscan_edge.multilabel_metrics import per_class_average_precision


def average_precisions(scores: np.ndarray, targets: np.ndarray) -> list[float | None]:
    """Per class, the AP (0-1) of ``scores`` against multi-hot ``targets`` (``multilabel_metrics``, the figure
    training reports); None where it is undefined (no positive window)."""
    return [None if np.isnan(ap) else float(ap) for ap in per_class_average_precision(scores, targets)]


def mean_ap(precisions: list[float | None]) -> float | None:
    known = [ap for ap in precisions if ap is not None]
    return float(np.mean(known)) if known else None


@dataclass
class MultilabelGateResult:
    passed: bool
    samples: int
    fp32_map: float | None  # points (0-100)
    int8_map: float | None
    map_drop: float
    ap_drop: dict[str, float]  # points per judged class
    failing_classes: list[str] = field(default_factory=list)
    reason: str = ""
    class_samples: dict[str, int] = field(default_factory=dict)  # positive validation windows per class
    unjudged: list[str] = field(default_factory=list)  # classes without AP (no positives or no negatives)
    objective: str = "multilabel"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _points(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def multilabel_quality_gate(
    fp32_scores: np.ndarray,
    int8_scores: np.ndarray,
    targets: np.ndarray,
    class_names: list[str],
    max_map_drop: float,
    max_class_ap_drop: float,
) -> MultilabelGateResult:
    """Judge INT8 sigmoid scores against FP32's on the validation windows' multi-hot targets."""
    if targets.ndim != 2 or targets.shape[1] != len(class_names):
        raise ValueError(f"targets of shape {targets.shape} for {len(class_names)} classes; expected (N, classes)")
    fp32_ap, int8_ap = average_precisions(fp32_scores, targets), average_precisions(int8_scores, targets)
    drops = {
        name: round(100.0 * (before - after), 3)
        for name, before, after in zip(class_names, fp32_ap, int8_ap, strict=True)
        if before is not None and after is not None
    }
    unjudged = [name for name, ap in zip(class_names, fp32_ap, strict=True) if ap is None]
    fp32_map, int8_map = _points(mean_ap(fp32_ap)), _points(mean_ap(int8_ap))
    map_drop = (fp32_map or 0.0) - (int8_map or 0.0)
    failing = [name for name, drop in drops.items() if drop > max_class_ap_drop]
    counts = {name: int(np.sum(targets[:, i] > 0.5)) for i, name in enumerate(class_names)}
    reasons = []
    if map_drop > max_map_drop:
        reasons.append(f"mAP dropped {map_drop:.1f} points (limit {max_map_drop:g})")
    if failing:
        reasons.append(
            f"average precision dropped more than {max_class_ap_drop:g} points for "
            + ", ".join(f"{name} (-{drops[name]:.1f} on {counts[name]} positive windows)" for name in failing)
        )
    return MultilabelGateResult(
        passed=not reasons,
        samples=int(len(targets)),
        fp32_map=fp32_map,
        int8_map=int8_map,
        map_drop=round(map_drop, 3),
        ap_drop=drops,
        failing_classes=failing,
        reason="; ".join(reasons),
        class_samples=counts,
        unjudged=unjudged,
    )
