"""Single-label or multi-label: the one contract training, checkpoints, exported files and predictors share.

A ``single_label`` model answers "which one of these classes" (softmax over the logits: one label per window).
A ``multilabel`` model answers "which of these classes are present" (one sigmoid per class: an owl and a frog
chorus in the same seconds both score high, and silence scores low everywhere, with no background class).
A class is reported when its score reaches its own threshold, chosen on validation by training and carried by
the checkpoint (``CheckpointMeta.thresholds``) and every exported manifest (``Manifest.thresholds``).

Models always return logits; the activation lives in the exported file (``artifact.wrapper``). The names,
the thresholds check and the ``report.json`` ``multilabel`` section are here, on the ground floor, so that
``config``, ``checkpoint``, ``artifact``, ``predict`` and ``web`` read them one way (docs/multilabel.md).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Objective = Literal["single_label", "multilabel"]
OutputActivation = Literal["softmax", "sigmoid"]
SINGLE_LABEL: Objective = "single_label"
MULTILABEL: Objective = "multilabel"


def activation_for(objective: Objective) -> OutputActivation:
    """What the exported file applies to the logits: softmax for one label per window, sigmoid per class."""
    return "sigmoid" if objective == MULTILABEL else "softmax"


class ThresholdError(ValueError):
    """Per-class thresholds that do not fit the labels (a ``ValueError``: pydantic validators turn it into theirs)."""


def check_thresholds(thresholds: dict[str, float], labels: list[str]) -> dict[str, float]:
    """The thresholds in label order, one per label, each in [0, 1]; ``ThresholdError`` naming what is wrong."""
    unknown = [name for name in thresholds if name not in labels]
    if unknown:
        raise ThresholdError(
            f"thresholds for labels the model does not have: {', '.join(sorted(unknown))} (labels: {', '.join(labels)})"
        )
    missing = [name for name in labels if name not in thresholds]
    if missing:
        raise ThresholdError(f"no threshold for label(s) {', '.join(missing)}; every class needs one")
    bad = [name for name in labels if not (math.isfinite(thresholds[name]) and 0.0 <= thresholds[name] <= 1.0)]
    if bad:
        raise ThresholdError(
            "thresholds must be probabilities in [0, 1]; got "
            + ", ".join(f"{name}={thresholds[name]!r}" for name in bad)
        )
    return {name: float(thresholds[name]) for name in labels}


def labels_above_thresholds(scores: dict[str, float], thresholds: dict[str, float]) -> list[str]:
    """Every class whose score reaches its threshold, highest score first (what a multi-label prediction reports)."""
    present = [label for label, score in scores.items() if score >= thresholds[label]]
    return sorted(present, key=lambda label: -scores[label])


# --- report.json ``multilabel`` section (written by train/, read by web/ and bench) --------------------------
class _ReportPart(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ClassMetrics(_ReportPart):
    """One class on the validation split, at its chosen threshold (``ap``/``auroc`` need no threshold)."""

    ap: float | None = Field(description="average precision; null when the class has no positive window")
    auroc: float | None = Field(None, description="area under the ROC curve; null without positives and negatives")
    f1: float
    precision: float
    recall: float
    threshold: float = Field(ge=0, le=1)
    support: int = Field(0, ge=0, description="positive validation windows")


class PrecisionRecallCurve(_ReportPart):
    """Points of the class's precision-recall curve (same length; ``thresholds`` one shorter or equal)."""

    precision: list[float]
    recall: list[float]
    thresholds: list[float] = Field(default_factory=list)


class MultilabelReport(_ReportPart):
    """``report.json["multilabel"]`` of a multi-label run: per-class figures, mAP and the curves the web draws."""

    map: float | None = Field(description="mean of the per-class AP over classes with positives")
    threshold_rule: Literal["best_f1", "target_precision"] = "best_f1"
    target_precision: float | None = None
    per_class: dict[str, ClassMetrics]
    pr_curves: dict[str, PrecisionRecallCurve] = Field(default_factory=dict)


MULTILABEL_REPORT_KEY = "multilabel"


def multilabel_report(report: dict[str, object] | None) -> MultilabelReport | None:
    """The typed ``multilabel`` section of a run's report.json; None for a single-label run (or no report)."""
    section = (report or {}).get(MULTILABEL_REPORT_KEY)
    return MultilabelReport.model_validate(section) if isinstance(section, dict) else None
