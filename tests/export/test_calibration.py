import numpy as np
import pytest

from nightscan_edge.export.calibration import (
    calibrate,
    coverage_curve,
    fit_temperature,
    plot_reliability,
    recommend_threshold,
    reliability,
    softmax,
)


def _calibrated_logits(n=4000, classes=4, seed=0):
    """Logits whose softmax is the true label distribution (labels are drawn from it): T = 1 is right."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.0, size=(n, classes))
    probabilities = softmax(logits)
    labels = np.array([rng.choice(classes, p=p) for p in probabilities])
    return logits, labels


def test_fit_recovers_the_overconfidence_factor():
    logits, labels = _calibrated_logits()
    assert fit_temperature(logits, labels) == pytest.approx(1.0, abs=0.1)
    assert fit_temperature(3.0 * logits, labels) == pytest.approx(3.0, rel=0.1)


def test_calibration_lowers_ece_and_keeps_top1():
    logits, labels = _calibrated_logits()
    report = calibrate(3.0 * logits, labels, target_accuracy=0.9)
    assert report.ece_after < report.ece_before / 2
    assert report.nll_after < report.nll_before
    assert np.array_equal(softmax(3 * logits).argmax(1), softmax(3 * logits, report.temperature).argmax(1))
    summary = report.summary()
    assert "curve" not in summary and summary["temperature"] == report.temperature


def test_ece_is_zero_for_perfect_confident_predictions():
    probabilities = np.eye(3)[[0, 1, 2, 0]]
    ece, bins = reliability(probabilities, np.array([0, 1, 2, 0]))
    assert ece == pytest.approx(0.0)
    assert sum(bins.count) == 4


def test_coverage_curve_and_recommended_threshold():
    probabilities = np.array([[0.95, 0.05], [0.9, 0.1], [0.6, 0.4], [0.55, 0.45]])
    labels = np.array([0, 0, 1, 0])  # the 0.6-confidence one is wrong
    curve = coverage_curve(probabilities, labels)
    at_zero = curve[0]
    assert at_zero.coverage == 1.0 and at_zero.accuracy == 0.75
    chosen = recommend_threshold(curve, 1.0)
    assert 0.6 < chosen.threshold <= 0.9 and chosen.coverage == 0.5 and chosen.accuracy == 1.0
    assert recommend_threshold(coverage_curve(probabilities, np.array([1, 1, 0, 1])), 0.99) is None


def test_reliability_png_is_written(tmp_path):
    logits, labels = _calibrated_logits(n=300)
    path = plot_reliability(calibrate(2 * logits, labels, 0.8), tmp_path / "reliability.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_few_windows_refuse_a_temperature_and_a_threshold_with_the_reason():
    from nightscan_edge.export.calibration import TooFewWindowsError
    from nightscan_edge.sample_size import MIN_TEMPERATURE_WINDOWS

    logits, labels = _calibrated_logits(n=11)
    with pytest.raises(TooFewWindowsError, match=f"11 validation windows; it needs at least {MIN_TEMPERATURE_WINDOWS}"):
        fit_temperature(logits, labels)
    report = calibrate(5 * logits, labels, target_accuracy=0.9, fixed_temperature=1.0)
    assert report.temperature == 1.0 and not report.temperature_fitted
    assert report.recommended_threshold is None
    assert any("kept T = 1" in w for w in report.warnings) and any("keep the app's 0.8" in w for w in report.warnings)
    assert calibrate(logits, labels, 0.9).summary()["warnings"] == report.warnings
    assert calibrate(*_calibrated_logits(n=300), 0.9).warnings == []


def test_small_evaluation_sets_get_an_interval_not_just_a_percentage():
    from nightscan_edge.sample_size import accuracy_warning, wilson_interval

    low, high = wilson_interval(8, 8)
    assert 0.6 < low < 0.7 and high == 1.0
    assert "from 68% to 100%" in accuracy_warning(1.0, 8)
    assert accuracy_warning(0.9, 200) is None
