"""Does the exported file behave like the trained model? Measured in the artifact's own runtime.

FP32 targets (issue 4): top-1 agreement 100 % and max |p_artifact - p_torch| <= 1e-4 on real validation
samples. INT8 artifacts are compared too, but judged by the quality gate (``quality_gate.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from nightscan_edge.export.multilabel_gate import average_precisions

FP32_MAX_ABS_DIFF = 1e-4
FP32_MIN_TOP1_AGREEMENT = 1.0


@dataclass
class Parity:
    samples: int
    max_abs_diff: float
    mean_abs_diff: float
    top1_agreement: float
    inputs: str  # "validation split" or "generated" (run without readable data)
    passed: bool | None  # FP32 against its target; None for INT8 (the quality gate decides)
    # multi-label: share of (window, class) present/absent decisions at the thresholds that agree, and the
    # largest per-class AP difference in points (validation targets only); None for single-label
    threshold_agreement: float | None = None
    max_class_ap_diff: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_parity(
    reference: np.ndarray,
    candidate: np.ndarray,
    inputs: str,
    precision: str,
    thresholds: np.ndarray | None = None,
    targets: np.ndarray | None = None,
) -> Parity:
    """``thresholds`` (per class) for a multi-label file: its FP32 target is the same present/absent decision on
    every (window, class) instead of the same top-1 class; ``targets`` (multi-hot) add the per-class AP check."""
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        raise ValueError(f"artifact returned shape {candidate.shape}, PyTorch {reference.shape}")
    difference = np.abs(reference - candidate)
    agreement = float(np.mean(reference.argmax(axis=1) == candidate.argmax(axis=1)))
    max_diff = float(difference.max())
    decisions, ap_diff = None, None
    if thresholds is not None:
        decisions = float(np.mean((reference >= thresholds) == (candidate >= thresholds)))
        if targets is not None:
            pairs = zip(average_precisions(reference, targets), average_precisions(candidate, targets), strict=True)
            known = [abs(a - b) for a, b in pairs if a is not None and b is not None]
            ap_diff = round(100.0 * max(known), 4) if known else None
    decided = decisions if decisions is not None else agreement
    passed = (max_diff <= FP32_MAX_ABS_DIFF and decided >= FP32_MIN_TOP1_AGREEMENT) if precision == "fp32" else None
    return Parity(len(reference), max_diff, float(difference.mean()), agreement, inputs, passed, decisions, ap_diff)


def needs_macos(reason: str | None = "Core ML predicts only on macOS/iOS") -> dict[str, Any]:
    """The parity entry of a Core ML artifact written on Linux (its spec is checked instead)."""
    return {"numeric": "needs macOS", "reason": reason}
