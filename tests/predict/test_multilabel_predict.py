"""Multi-label prediction (docs/multilabel.md): every class above its own threshold, detections overlapping in time,
the server asked when any class sits near its threshold (manifests that cannot work: tests/corpus)."""

from __future__ import annotations

import csv

import httpx
import numpy as np
import pytest

from nightscan_edge.cli import main
from nightscan_edge.predict import EdgePredictor
from nightscan_edge.predict.classifier import Classifier, load_edge_classifier, load_server_classifier
from nightscan_edge.predict.output import RavenWriter, csv_rows
from nightscan_edge.predict.scoring import score_audio
from nightscan_edge.predict.server_api import create_predict_app, predict_upload
from nightscan_edge.predict.windows import ScoredWindow, merge_present_windows, near_thresholds, reported_detections
from tests.conftest import write_tone
from tests.predict.conftest import AUDIO_LABELS, MULTILABEL_THRESHOLDS, TINY_AUDIO_SPEC

THRESHOLDS = {"owl": 0.5, "fox": 0.65, "bat": 0.5}


def _windows(rows: list[list[float]], source: str = "edge") -> list[ScoredWindow]:
    return [ScoredWindow(i * 0.5, i * 0.5 + 1.0, np.array(row, np.float32), source) for i, row in enumerate(rows)]


def test_every_class_above_its_threshold_is_a_detection_and_they_overlap():
    windows = _windows([[0.9, 0.7, 0.1], [0.8, 0.7, 0.2], [0.2, 0.7, 0.6], [0.1, 0.1, 0.6]])
    thresholds = np.array([THRESHOLDS[label] for label in AUDIO_LABELS])
    found = [
        (d.label, d.start_s, d.end_s, round(d.confidence, 2))
        for d in merge_present_windows(windows, AUDIO_LABELS, thresholds)
    ]
    assert found == [("owl", 0.0, 1.5, 0.9), ("fox", 0.0, 2.0, 0.7), ("bat", 1.0, 2.5, 0.6)]
    assert reported_detections(_windows([[0.1, 0.1, 0.1]]), AUDIO_LABELS, thresholds=thresholds) == []
    assert near_thresholds(np.array([0.9, 0.7, 0.1]), thresholds, 0.1)  # fox 0.7 is 0.05 from 0.65
    assert not near_thresholds(np.array([0.9, 0.9, 0.1]), thresholds, 0.1)


def _fake(scores, source="edge", objective="multilabel", thresholds=THRESHOLDS) -> Classifier:
    """Owl scores follow the window's loudness, fox and bat are fixed: a deterministic multi-label model."""

    def predict_batch(inputs: np.ndarray) -> np.ndarray:
        loud = np.sqrt(np.mean(inputs**2, axis=1)) > 0.1
        rows = np.tile(np.asarray(scores, np.float32), (len(inputs), 1))
        rows[:, 0] = np.where(loud, scores[0], 0.05)
        return rows

    return Classifier(
        "fake",
        "fake-run",
        list(AUDIO_LABELS),
        TINY_AUDIO_SPEC,
        predict_batch,
        source=source,
        objective=objective,
        thresholds=thresholds if objective == "multilabel" else None,
    )


@pytest.fixture
def dusk(tmp_path):
    """2 s of tone, then 2 s of near silence."""
    import soundfile

    tone = write_tone(tmp_path / "tone.wav", 700, 2.0, 8000)
    samples, _ = soundfile.read(tone, dtype="float32")
    path = tmp_path / "dusk.wav"
    soundfile.write(path, np.concatenate([samples, np.zeros(16000, np.float32)]), 8000)
    return path


def test_edge_prediction_reports_overlapping_classes(dusk):
    result = EdgePredictor(_fake([0.9, 0.8, 0.1])).predict_file(dusk)
    spans = {d.label: (d.start_s, d.end_s) for d in result.detections}
    assert set(spans) == {"owl", "fox"} and result.sent_to_server == 0
    assert spans["fox"] == (0.0, pytest.approx(4.0)) and spans["owl"][0] == 0.0 and spans["owl"][1] < 4.0
    rows = list(csv_rows([result]))
    assert sorted(r["label"] for r in rows) == ["fox", "owl"]


def test_a_window_near_any_threshold_goes_to_the_server(dusk, serve):
    server = serve(create_predict_app(_fake([0.9, 0.1, 0.9], source="server")))
    with EdgePredictor(_fake([0.9, 0.7, 0.1]), server.url, near_threshold=0.1, timeout_s=10) as predictor:
        result = predictor.predict_file(dusk)
    assert result.sent_to_server == result.windows and result.fallback_failed == 0
    assert {(d.label, d.source) for d in result.detections} >= {("owl", "server"), ("bat", "server")}
    assert "fox" not in {d.label for d in result.detections}
    with EdgePredictor(_fake([0.9, 0.7, 0.1]), server.url, near_threshold=0.01) as predictor:
        assert predictor.predict_file(dusk).sent_to_server == 0  # 0.7 is 0.05 from 0.65: not near at 0.01


def test_a_single_label_server_cannot_answer_for_a_multilabel_edge(dusk, serve):
    server = serve(create_predict_app(_fake([0.8, 0.1, 0.1], source="server", objective="single_label")))
    with EdgePredictor(_fake([0.9, 0.7, 0.1]), server.url, timeout_s=10) as predictor:
        result = predictor.predict_file(dusk)
    assert result.fallback_failed == result.sent_to_server > 0
    assert {d.source for d in result.detections} == {"edge"}


def test_the_server_api_says_multilabel_with_every_present_class(dusk, serve):
    server = serve(create_predict_app(_fake([0.9, 0.7, 0.1], source="server")))
    info = httpx.get(server.url + "/api/predict/model", timeout=10).json()
    assert info["objective"] == "multilabel" and info["thresholds"] == THRESHOLDS
    body = predict_upload(_fake([0.9, 0.7, 0.1], source="server"), dusk)
    assert body["objective"] == "multilabel" and body["labels"] == ["owl", "fox"]
    assert body["thresholds"] == THRESHOLDS and body["windows"][-1]["labels"] == ["fox"]


@pytest.mark.slow  # the CLI end to end on an exported file
def test_exported_multilabel_file_predicts_from_its_manifest_alone(tiny_multilabel_onnx, tiny_multilabel_run, tmp_path):
    edge = load_edge_classifier(tiny_multilabel_onnx, threads=1)
    assert edge.multilabel and edge.thresholds == MULTILABEL_THRESHOLDS
    windows = np.random.default_rng(0).standard_normal((4, edge.spec.clip_samples)).astype(np.float32) * 0.1
    np.testing.assert_allclose(
        edge.probabilities(windows), load_server_classifier(tiny_multilabel_run).probabilities(windows), atol=1e-5
    )
    recording = write_tone(tmp_path / "night" / "night.wav", 900, 3.0, 8000)
    out, raven = tmp_path / "detections.csv", tmp_path / "night.selections.txt"
    assert (
        main(["predict", str(tiny_multilabel_onnx), str(recording.parent), "--out", str(out), "--raven", str(raven)])
        == 0
    )
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    thresholds = edge.threshold_array
    expected = reported_detections(score_audio(edge, recording), edge.labels, thresholds=thresholds)
    assert [(r["label"], float(r["start_s"]), float(r["end_s"])) for r in rows] == [
        (d.label, pytest.approx(d.start_s, abs=1e-3), pytest.approx(d.end_s, abs=1e-3)) for d in expected
    ]
    assert all(float(r["confidence"]) >= MULTILABEL_THRESHOLDS[r["label"]] for r in rows)
    assert len(raven.read_text().splitlines()) == 1 + len(rows)


def test_raven_selections_overlap_one_per_class(dusk, tmp_path):
    result = EdgePredictor(_fake([0.9, 0.8, 0.7])).predict_file(dusk)
    with open(tmp_path / "t.txt", "w") as handle:
        RavenWriter(handle, 0, 4000).write(result)
    lines = [line.split("\t") for line in (tmp_path / "t.txt").read_text().splitlines()[1:]]
    assert sorted(line[8] for line in lines) == ["bat", "fox", "owl"]
    assert all(float(line[3]) == 0.0 for line in lines)  # three selections starting together


def test_the_archive_engine_merges_its_spans_per_class_across_the_span_border():
    pytest.importorskip("distributed")
    from datetime import datetime

    from nightscan_edge.predict.archive.plan import FilePlan
    from nightscan_edge.predict.archive.tasks import SpanResult, merge_spans

    def span(rows, first):
        windows = _windows(rows)
        return SpanResult(
            starts=np.array([w.start_s + first for w in windows]),
            ends=np.array([w.end_s + first for w in windows]),
            probabilities=np.array(rows, np.float32),
            sources=["edge"] * len(rows),
            fallback_failed=np.zeros(len(rows), bool),
            windows=len(rows),
        )

    plan = FilePlan("night.wav", "night.wav", 1, 0, 2.5, "site", datetime(2026, 12, 7), "mtime")
    thresholds = np.array([THRESHOLDS[label] for label in AUDIO_LABELS])
    result = merge_spans(
        plan, [span([[0.9, 0.7, 0.1]], 0.0), span([[0.9, 0.1, 0.7]], 0.5)], AUDIO_LABELS, 1, thresholds
    )
    assert [(d.label, d.start_s, d.end_s) for d in result.detections] == [
        ("owl", 0.0, 1.5),
        ("fox", 0.0, 1.0),
        ("bat", 0.5, 1.5),
    ]
