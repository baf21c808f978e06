"""EdgePredictor's fallback policy against a real uvicorn server on 127.0.0.1: normal, slow, down."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from nightscan_edge.audio.decode import window_starts
from nightscan_edge.predict import EdgePredictor
from nightscan_edge.predict.classifier import load_server_classifier
from nightscan_edge.predict.server_api import create_predict_app
from tests.conftest import write_tone
from tests.predict.conftest import free_port

WINDOWS = len(window_starts(4 * 8000, 7936, 3968))  # the 4 s recording below, 50 % hop


@pytest.fixture(scope="module")
def server_model(tiny_audio_run):
    return load_server_classifier(tiny_audio_run)


@pytest.fixture(scope="module")
def edge_model(server_model):
    # The same weights playing the edge role: the server's answers must then agree with the edge's.
    return dataclasses.replace(server_model, source="edge")


@pytest.fixture
def recording(tmp_path):
    return write_tone(tmp_path / "night.flac", 700, 4.0, 8000)


def test_without_server_everything_stays_on_the_edge(edge_model, recording) -> None:
    result = EdgePredictor(edge_model, threshold=1.0).predict_file(recording)
    assert result.error is None and result.windows == WINDOWS and result.sent_to_server == 0
    assert {d.source for d in result.detections} == {"edge"}
    assert result.detections[0].start_s == 0.0 and result.detections[-1].end_s == pytest.approx(4.0)


def test_unsure_windows_go_to_the_server_and_agree(edge_model, server_model, recording, serve) -> None:
    server = serve(create_predict_app(server_model))
    edge_only = EdgePredictor(edge_model).predict_file(recording)
    with EdgePredictor(edge_model, server.url, threshold=1.0, timeout_s=10) as predictor:
        result = predictor.predict_file(recording)
    assert result.sent_to_server == result.windows == WINDOWS and result.fallback_failed == 0
    assert {d.source for d in result.detections} == {"server"}
    # Same model on both sides (the WAV upload is 16-bit): same labels over the same spans.
    assert [(d.label, d.start_s, d.end_s) for d in result.detections] == [
        (d.label, d.start_s, d.end_s) for d in edge_only.detections
    ]
    for ours, theirs in zip(result.detections, edge_only.detections, strict=False):
        assert ours.confidence == pytest.approx(theirs.confidence, abs=2e-3)


def test_threshold_zero_never_asks_the_server(edge_model, server_model, recording, serve) -> None:
    server = serve(create_predict_app(server_model))
    result = EdgePredictor(edge_model, server.url, threshold=0.0).predict_file(recording)
    assert result.sent_to_server == 0 and {d.source for d in result.detections} == {"edge"}


def test_server_down_keeps_edge_results_flagged(edge_model, recording) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    result = EdgePredictor(edge_model, url, threshold=1.0, timeout_s=1.0).predict_file(recording)
    assert result.windows == WINDOWS and result.fallback_failed == WINDOWS and result.error is None
    assert all(d.fallback_failed and d.source == "edge" for d in result.detections)
    assert time.monotonic() - started < 5


def test_slow_server_times_out_and_breaker_stops_asking(edge_model, server_model, recording, serve) -> None:
    requests_seen = []

    def slow_predict(inputs: np.ndarray) -> np.ndarray:
        requests_seen.append(time.monotonic())
        time.sleep(1.5)
        return server_model.predict_batch(inputs)

    server = serve(create_predict_app(dataclasses.replace(server_model, predict_batch=slow_predict)))
    result = EdgePredictor(edge_model, server.url, threshold=1.0, timeout_s=0.3).predict_file(recording)
    assert result.fallback_failed == WINDOWS and all(
        d.fallback_failed and d.source == "edge" for d in result.detections
    )
    time.sleep(1.0)  # let requests already on their way reach the model
    assert len(requests_seen) == 3  # three timeouts, then the circuit breaker skips the remaining windows


def test_photo_fallback(tiny_photo_run, serve, tmp_path) -> None:
    from PIL import Image

    server_photo = load_server_classifier(tiny_photo_run)
    server = serve(create_predict_app(server_photo))
    path = tmp_path / "trap.jpg"
    Image.new("RGB", (64, 48), (20, 120, 40)).save(path)
    edge = dataclasses.replace(server_photo, source="edge")
    result = EdgePredictor(edge, server.url, threshold=1.0).predict_file(path)
    (detection,) = result.detections
    assert detection.source == "server" and detection.start_s is None
    assert detection.label == EdgePredictor(edge).predict_file(path).detections[0].label
