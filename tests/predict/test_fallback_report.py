"""Coverage / combined accuracy arithmetic of the fallback report, and the report on generated data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nightscan_edge.predict.classifier import load_server_classifier
from nightscan_edge.predict.fallback_report import combined_at, fallback_report, recommend_threshold
from tests.conftest import write_tone

# 4 samples, 2 classes. Edge: right & sure, right & unsure, wrong & unsure, wrong & sure.
EDGE = np.array([[0.95, 0.05], [0.6, 0.4], [0.55, 0.45], [0.1, 0.9]])
SERVER = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.3, 0.7]])
LABELS = np.array([0, 0, 1, 0])


def test_combined_accuracy_uses_the_server_below_threshold() -> None:
    row = combined_at(0.7, EDGE, SERVER, LABELS)
    assert row["share_to_server"] == 0.5
    assert row["edge_kept_accuracy"] == 0.5  # kept: sample 0 (right) and 3 (wrong)
    assert row["combined_accuracy"] == 0.75  # server fixes sample 2
    assert combined_at(0.0, EDGE, SERVER, LABELS)["combined_accuracy"] == 0.5  # edge only
    assert combined_at(1.0, EDGE, SERVER, LABELS)["share_to_server"] == 1.0


def test_recommended_threshold_is_the_lowest_reaching_the_target() -> None:
    assert recommend_threshold(EDGE, LABELS, target_accuracy=0.5) == 0.0
    confident = np.array([[0.99, 0.01], [0.6, 0.4], [0.7, 0.3]])
    assert recommend_threshold(confident, np.array([0, 1, 1]), target_accuracy=1.0) == pytest.approx(0.71)
    assert recommend_threshold(EDGE, np.array([1, 1, 0, 0]), target_accuracy=1.0) == 1.0  # never reached


def test_report_on_a_labeled_folder(tiny_audio_run, tmp_path) -> None:
    for label, frequency in (("owl", 400), ("fox", 1200), ("bat", 2500)):
        for seed in range(2):
            write_tone(tmp_path / "data" / label / f"{seed}.wav", frequency, 1.5, 8000, seed=seed)
    server = load_server_classifier(tiny_audio_run)
    report = fallback_report(
        tmp_path / "model.onnx",
        tiny_audio_run,
        data_path=str(tmp_path / "data"),
        edge=dataclasses.replace(server, source="edge"),
        server=server,
    )
    assert report["samples"] == 18  # 1.5 s clips -> windows at 0, 0.496 s and the end-aligned tail
    assert report["edge_only_accuracy"] == report["server_accuracy"]  # same weights on both sides
    assert report["threshold_source"].startswith("chosen on this data")
    at = report["at_threshold"]
    assert 0.0 <= at["share_to_server"] <= 1.0 and at["combined_accuracy"] == pytest.approx(report["server_accuracy"])


def test_report_measures_on_the_held_out_test_split_when_the_run_has_one(tmp_path) -> None:
    from nightscan_edge.predict.fallback_report import _run_split

    (tmp_path / "split.csv").write_text("path,label,split\na.wav,owl,train\nb.wav,owl,val\nc.wav,owl,test\n")
    assert _run_split(tmp_path, None) == "test"  # the export chose its threshold on val
    assert _run_split(tmp_path, "val") == "val"
    (tmp_path / "split.csv").write_text("path,label,split\na.wav,owl,train\nb.wav,owl,val\n")
    assert _run_split(tmp_path, None) == "val"
    with pytest.raises(ValueError, match="has no 'test' split"):
        _run_split(tmp_path, "test")
