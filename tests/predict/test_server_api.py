"""``POST /api/predict`` served by uvicorn on 127.0.0.1 with a tiny run's FP32 model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nightscan_edge.audio.decode import window_starts
from nightscan_edge.predict.classifier import load_server_classifier
from nightscan_edge.predict.scoring import score_audio, summarise
from nightscan_edge.predict.server_api import create_predict_app
from tests.conftest import write_tone
from tests.predict.conftest import AUDIO_LABELS, PHOTO_LABELS, post_file


@pytest.fixture(scope="module")
def audio_classifier(tiny_audio_run):
    return load_server_classifier(tiny_audio_run)


def test_audio_upload_returns_schema_and_windows(audio_classifier, serve, tmp_path) -> None:
    server = serve(create_predict_app(audio_classifier))
    # 3.3 s at 16 kHz stereo: the server resamples to the model's 8 kHz and windows ~1 s with 50 % hop.
    path = write_tone(tmp_path / "night.wav", 1000, 3.3, 16000, channels=2)
    response = post_file(server.url, path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"label", "confidence", "probabilities", "source", "model", "windows"}
    assert body["source"] == "server"
    assert body["model"] == {"name": "ultralight_audio", "run_id": "tiny-audio"}
    assert set(body["probabilities"]) == set(AUDIO_LABELS)
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert body["label"] == max(body["probabilities"], key=body["probabilities"].get)
    expected_starts = window_starts(int(3.3 * 8000), 7936, 3968)
    assert [w["start_s"] for w in body["windows"]] == pytest.approx([s / 8000 for s in expected_starts], abs=1e-3)
    assert body["windows"][-1]["end_s"] == pytest.approx(3.3, abs=1e-3)
    # The server answer is the mean of the window probabilities computed offline from the same file.
    label, confidence, probabilities = summarise(score_audio(audio_classifier, path), AUDIO_LABELS)
    assert body["label"] == label
    assert body["confidence"] == pytest.approx(confidence, abs=1e-5)


def test_model_info(audio_classifier, serve) -> None:
    import httpx

    server = serve(create_predict_app(audio_classifier))
    info = httpx.get(server.url + "/api/predict/model", timeout=10).json()
    assert info["labels"] == AUDIO_LABELS and info["input_kind"] == "audio" and info["spec"]["sample_rate"] == 8000


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("photo.jpg", None, "is an image but this model classifies audio"),
        ("noise.wav", b"this is not audio at all" * 10, "not decodable audio"),
        ("empty.wav", b"", "empty upload"),
    ],
)
def test_bad_uploads_are_422_with_a_clear_message(audio_classifier, serve, tmp_path, name, content, message) -> None:
    server = serve(create_predict_app(audio_classifier))
    path = tmp_path / name
    if content is None:
        Image.new("RGB", (40, 30), (200, 10, 10)).save(path)
    else:
        path.write_bytes(content)
    response = post_file(server.url, path)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert str(tmp_path) not in response.json()["detail"]  # temp paths do not leak


def test_photo_upload(tiny_photo_run, serve, tmp_path) -> None:
    server = serve(create_predict_app(str(tiny_photo_run)))  # lazy-loaded from the run folder
    path = tmp_path / "camera.png"
    Image.fromarray((np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)).save(path)
    body = post_file(server.url, path).json()
    assert "windows" not in body
    assert body["label"] in PHOTO_LABELS and set(body["probabilities"]) == set(PHOTO_LABELS)
    assert body["model"]["run_id"] == "tiny-photo"


def test_missing_server_model_is_503(serve, tmp_path) -> None:
    server = serve(create_predict_app(str(tmp_path / "no-such-run")))
    path = write_tone(tmp_path / "clip.wav", 500, 1.0, 8000)
    response = post_file(server.url, path)
    assert response.status_code == 503 and "server model unavailable" in response.json()["detail"]
