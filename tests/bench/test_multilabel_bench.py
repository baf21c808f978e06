"""``bench`` of a multi-label file: mAP, per-class AP and figures at the manifest's thresholds where a single-label
file reports top-1 accuracy, on a fake runner whose scores are known."""

from __future__ import annotations

import numpy as np
import pytest
from tests.bench.conftest import LABELS

from nightscan_edge.bench import BenchOptions
from nightscan_edge.bench.measure import FileBench
from nightscan_edge.bench.options import Samples
from nightscan_edge.bench.progress import NoProgress

FAST = BenchOptions(threads=(1,), warmup=1, iterations=2, throughput_batch=2, throughput_iterations=1)
# five clips: bat+owl, owl, frog, nothing, bat -- and the scores a multi-label file gives them
TARGETS = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0], [1, 0, 0]], dtype=np.float32)
SCORES = np.array(
    [[0.9, 0.7, 0.1], [0.2, 0.8, 0.3], [0.1, 0.2, 0.6], [0.3, 0.1, 0.2], [0.4, 0.1, 0.1]], dtype=np.float32
)


class ScoreRunner:
    """Returns the known score row of the clip whose index is in its first sample."""

    dynamic_batch = True

    def predict(self, x: np.ndarray) -> np.ndarray:
        return SCORES[np.rint(x[:, 0]).astype(int)]


def _bench(labels: np.ndarray, thresholds: list[float] | None) -> FileBench:
    inputs = np.zeros((len(SCORES), 64), dtype=np.float32)
    inputs[:, 0] = np.arange(len(SCORES))
    samples = Samples(inputs, labels, "generated")
    return FileBench(FAST, [1], inputs[0], {1: 1.0}, 1000, samples, LABELS, NoProgress(), thresholds)


def test_a_multilabel_file_is_judged_by_map_and_its_thresholds():
    result = _bench(TARGETS, [0.35, 0.5, 0.5]).measure("model.onnx", "onnx", "fp32", None, 1.0, lambda t: ScoreRunner())
    assert result.status == "ok", result.error
    assert result.per_class_ap == {"bat": 1.0, "owl": 1.0, "frog": 1.0}  # every positive outranks every negative
    assert result.map == pytest.approx(1.0)
    # at the thresholds: bat 0.4 >= 0.35 found, the silent clip's bat 0.3 stays under; every clip right
    assert result.accuracy == pytest.approx(1.0) and result.per_class_recall == {"bat": 1.0, "owl": 1.0, "frog": 1.0}
    stricter = _bench(TARGETS, [0.5, 0.5, 0.5]).measure("m", "onnx", "fp32", None, 1.0, lambda t: ScoreRunner())
    assert stricter.per_class_recall["bat"] == 0.5 and stricter.accuracy == pytest.approx(0.8)


def test_multi_hot_samples_for_a_single_label_file_are_an_error_not_a_figure():
    result = _bench(TARGETS, None).measure("model.onnx", "onnx", "fp32", None, 1.0, lambda t: ScoreRunner())
    assert result.status == "failed" and "several labels per clip" in (result.error or "")
