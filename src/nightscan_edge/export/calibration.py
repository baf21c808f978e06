"""Temperature scaling fitted on the validation split, and what it buys (issue 7, calibrated confidence).

The seed's app keeps an edge result when confidence > 0.8 and asks the server otherwise; that rule only
works if 0.8 means "right 80 % of the time". One scalar ``T`` (Guo et al., 2017) divides the logits;
it is fitted by minimising validation NLL, never changes the top-1 class, and is baked into every
artifact (``softmax(logits / T)``) and recorded in the manifest.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nightscan_edge.errors import UserError
from nightscan_edge.sample_size import MIN_TEMPERATURE_WINDOWS, MIN_THRESHOLD_WINDOWS

ECE_BINS = 15
_LOG_T_RANGE = (math.log(0.05), math.log(20.0))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    probabilities: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return probabilities


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    probabilities = softmax(logits, temperature)
    return float(-np.mean(np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, None))))


class TooFewWindowsError(UserError):
    """Temperature scaling was asked for with fewer validation windows than it needs to mean anything."""


def fit_temperature(
    logits: np.ndarray, labels: np.ndarray, tolerance: float = 1e-4, min_windows: int = MIN_TEMPERATURE_WINDOWS
) -> float:
    """The ``T`` minimising NLL (golden-section search on log T; NLL is convex in 1/T).

    Refuses fewer than ``min_windows`` windows: on 11 windows a model that is right on all of them drives
    T to the search bound (0.05), which would make every phone prediction look certain.
    """
    if len(logits) < min_windows:
        raise TooFewWindowsError(
            f"cannot fit a temperature on {len(logits)} validation windows; it needs at least "
            f"{min_windows} (more validation data, or export with --no-temperature)"
        )
    low, high = _LOG_T_RANGE
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    f_a = negative_log_likelihood(logits, labels, math.exp(a))
    f_b = negative_log_likelihood(logits, labels, math.exp(b))
    while high - low > tolerance:
        if f_a < f_b:
            high, b, f_b = b, a, f_a
            a = high - ratio * (high - low)
            f_a = negative_log_likelihood(logits, labels, math.exp(a))
        else:
            low, a, f_a = a, b, f_b
            b = low + ratio * (high - low)
            f_b = negative_log_likelihood(logits, labels, math.exp(b))
    return float(math.exp((low + high) / 2))


@dataclass
class ReliabilityBins:
    confidence: list[float]
    accuracy: list[float]
    count: list[int]


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> tuple[float, ReliabilityBins]:
    """Expected calibration error (equal-width confidence bins) and the per-bin figures behind it."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    result = ReliabilityBins([], [], [])
    ece = 0.0
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        mean_confidence = float(confidence[members].mean()) if count else float("nan")
        mean_accuracy = float(correct[members].mean()) if count else float("nan")
        if count:
            ece += count / len(labels) * abs(mean_confidence - mean_accuracy)
        result.confidence.append(mean_confidence)
        result.accuracy.append(mean_accuracy)
        result.count.append(count)
    return float(ece), result


@dataclass
class CoveragePoint:
    threshold: float
    coverage: float  # share of inputs whose confidence >= threshold (kept on the edge)
    accuracy: float | None  # accuracy of those kept; None when nothing is kept


def coverage_curve(probabilities: np.ndarray, labels: np.ndarray, steps: int = 101) -> list[CoveragePoint]:
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    points = []
    for threshold in np.linspace(0.0, 1.0, steps):
        kept = confidence >= threshold
        accuracy = float(correct[kept].mean()) if kept.any() else None
        points.append(CoveragePoint(round(float(threshold), 4), float(kept.mean()), accuracy))
    return points


def recommend_threshold(points: list[CoveragePoint], target_accuracy: float) -> CoveragePoint | None:
    """The lowest threshold whose kept inputs reach ``target_accuracy`` (most work stays on the edge)."""
    for point in points:
        if point.accuracy is not None and point.accuracy >= target_accuracy:
            return point
    return None


@dataclass
class CalibrationReport:
    temperature: float
    samples: int
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float
    accuracy: float
    target_accuracy: float
    recommended_threshold: float | None
    edge_share_at_threshold: float | None  # the rest goes to the server
    accuracy_at_threshold: float | None
    seed_threshold: float = 0.8
    edge_share_at_seed_threshold: float | None = None
    accuracy_at_seed_threshold: float | None = None
    temperature_fitted: bool = False
    warnings: list[str] = field(default_factory=list)  # what rests on too few windows, in words
    curve: list[dict[str, Any]] = field(default_factory=list)
    bins_before: dict[str, Any] = field(default_factory=dict)
    bins_after: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The manifest's copy: everything but the per-bin and per-threshold arrays."""
        return {k: v for k, v in asdict(self).items() if k not in ("curve", "bins_before", "bins_after")}


def calibrate(
    logits: np.ndarray, labels: np.ndarray, target_accuracy: float, fit: bool = True, fixed_temperature: float = 1.0
) -> CalibrationReport:
    """Fit (or take) a temperature and measure ECE/NLL before and after, plus the coverage curve.

    With fewer than ``MIN_TEMPERATURE_WINDOWS`` windows the temperature is not fitted (the given one is
    kept) and with fewer than ``MIN_THRESHOLD_WINDOWS`` no threshold is recommended; ``warnings`` says so.
    """
    warnings = []
    fitted = False
    temperature = float(fixed_temperature)
    if fit:
        try:
            temperature, fitted = fit_temperature(logits, labels), True
        except TooFewWindowsError as error:
            warnings.append(f"{error}; kept T = {temperature:g}")
    before, after = softmax(logits), softmax(logits, temperature)
    ece_before, bins_before = reliability(before, labels)
    ece_after, bins_after = reliability(after, labels)
    curve = coverage_curve(after, labels)
    chosen = recommend_threshold(curve, target_accuracy)
    if len(labels) < MIN_THRESHOLD_WINDOWS:
        chosen = None
        warnings.append(
            f"no edge threshold recommended from {len(labels)} validation windows (needs "
            f"{MIN_THRESHOLD_WINDOWS}); keep the app's 0.8 until there is more validation data"
        )
    seed = next(p for p in curve if abs(p.threshold - 0.8) < 1e-9)
    return CalibrationReport(
        temperature=temperature,
        samples=int(len(labels)),
        nll_before=negative_log_likelihood(logits, labels, 1.0),
        nll_after=negative_log_likelihood(logits, labels, temperature),
        ece_before=ece_before,
        ece_after=ece_after,
        accuracy=float((after.argmax(axis=1) == labels).mean()),
        target_accuracy=target_accuracy,
        recommended_threshold=chosen.threshold if chosen else None,
        edge_share_at_threshold=chosen.coverage if chosen else None,
        accuracy_at_threshold=chosen.accuracy if chosen else None,
        edge_share_at_seed_threshold=seed.coverage,
        accuracy_at_seed_threshold=seed.accuracy,
        curve=[asdict(p) for p in curve],
        bins_before=asdict(bins_before),
        bins_after=asdict(bins_after),
        temperature_fitted=fitted,
        warnings=warnings,
    )


def plot_reliability(report: CalibrationReport, path: Path) -> Path:
    """Reliability diagram (before/after) beside the coverage-accuracy curve, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    centres = (np.arange(ECE_BINS) + 0.5) / ECE_BINS
    for bins, name, colour, offset in (
        (report.bins_before, f"T=1 (ECE {report.ece_before:.3f})", "#999999", -0.25),
        (report.bins_after, f"T={report.temperature:.2f} (ECE {report.ece_after:.3f})", "#1f77b4", 0.25),
    ):
        accuracy = np.nan_to_num(np.asarray(bins["accuracy"], dtype=float))
        left.bar(centres + offset / ECE_BINS, accuracy, width=0.5 / ECE_BINS, color=colour, label=name)
    left.plot([0, 1], [0, 1], "k--", linewidth=1)
    left.set(xlabel="confidence", ylabel="accuracy", title="Reliability (validation)", xlim=(0, 1), ylim=(0, 1))
    left.legend(loc="upper left", fontsize=8)
    thresholds = [p["threshold"] for p in report.curve]
    right.plot(thresholds, [p["coverage"] for p in report.curve], label="kept on edge")
    right.plot(
        thresholds, [np.nan if p["accuracy"] is None else p["accuracy"] for p in report.curve], label="accuracy of kept"
    )
    if report.recommended_threshold is not None:
        right.axvline(
            report.recommended_threshold,
            color="k",
            linestyle=":",
            label=f"threshold {report.recommended_threshold:.2f} -> {report.target_accuracy:.0%} acc",
        )
    right.set(xlabel="confidence threshold", title="Coverage vs accuracy", xlim=(0, 1), ylim=(0, 1.02))
    right.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
