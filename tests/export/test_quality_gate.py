import numpy as np

from nightscan_edge.export.quality_gate import classification_figures, quality_gate

LABELS = ["bat", "frog", "owl"]


def _onehot(predicted):
    return np.eye(3)[predicted]


def test_gate_passes_identical_predictions():
    labels = np.array([0, 1, 2, 0, 1, 2])
    gate = quality_gate(_onehot(labels), _onehot(labels), labels, LABELS, 1.0, 3.0)
    assert gate.passed and gate.accuracy_drop == 0 and not gate.failing_classes


def test_gate_names_the_class_whose_recall_dropped():
    labels = np.array([0] * 10 + [1] * 10 + [2] * 10)
    int8 = labels.copy()
    int8[10] = 2  # one frog becomes an owl: frog recall -10 points, accuracy -3.3 points
    gate = quality_gate(_onehot(labels), _onehot(int8), labels, LABELS, 5.0, 3.0)
    assert not gate.passed
    assert gate.failing_classes == ["frog"]
    assert "frog (-10.0: 1 of 10 inputs)" in gate.reason and "accuracy" not in gate.reason
    assert gate.class_samples == {"bat": 10, "frog": 10, "owl": 10}
    strict = quality_gate(_onehot(labels), _onehot(int8), labels, LABELS, 1.0, 50.0)
    assert not strict.passed and "accuracy dropped 3.3 points (limit 1)" in strict.reason


def test_figures_macro_f1_and_recall():
    labels = np.array([0, 0, 1, 1])
    figures = classification_figures(_onehot(np.array([0, 1, 1, 1])), labels, 3)
    assert figures["accuracy"] == 75.0
    assert figures["recall"][:2] == [50.0, 100.0] and np.isnan(figures["recall"][2])
