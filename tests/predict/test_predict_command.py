"""``nightscan-edge predict`` from an exported ONNX artifact alone, and ``serve-model`` as a real process."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
import zipfile

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from nightscan_edge.cli import main
from nightscan_edge.predict import load_edge_classifier
from nightscan_edge.predict.classifier import load_server_classifier
from tests.conftest import REPO_ROOT, write_tone
from tests.predict.conftest import AUDIO_LABELS, PHOTO_LABELS, free_port


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_edge_artifact_matches_the_trained_model(tiny_audio_onnx, tiny_audio_run) -> None:
    edge = load_edge_classifier(tiny_audio_onnx, threads=1)
    assert edge.labels == AUDIO_LABELS and edge.spec.sample_rate == 8000 and edge.temperature is None
    windows = np.random.default_rng(0).standard_normal((5, edge.spec.clip_samples)).astype(np.float32) * 0.1
    np.testing.assert_allclose(
        edge.probabilities(windows), load_server_classifier(tiny_audio_run).probabilities(windows), atol=1e-5
    )


def test_predict_writes_csv_and_raven_and_reports_bad_files(tiny_audio_onnx, tmp_path, capsys) -> None:
    data = tmp_path / "recordings"
    write_tone(data / "dusk.wav", 500, 3.0, 16000)
    write_tone(data / "dawn.flac", 1500, 0.5, 8000)
    (data / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    out, raven = tmp_path / "detections.csv", tmp_path / "detections.selections.txt"
    code = main(["predict", str(tiny_audio_onnx), str(data), "--out", str(out), "--raven", str(raven), "--top-k", "2"])
    assert code == 0
    rows = _rows(out)
    by_file = {}
    for row in rows:
        by_file.setdefault(os.path.basename(row["file"]), []).append(row)
    assert set(by_file) == {"dusk.wav", "dawn.flac", "broken.wav"}
    assert by_file["broken.wav"][0]["error"] and by_file["broken.wav"][0]["label"] == ""
    dusk = by_file["dusk.wav"]
    assert float(dusk[0]["start_s"]) == 0.0 and float(dusk[-1]["end_s"]) == pytest.approx(3.0)
    assert all(r["label"] in AUDIO_LABELS and r["source"] == "edge" and len(r["top_k"].split(";")) == 2 for r in dusk)
    assert float(by_file["dawn.flac"][0]["end_s"]) == pytest.approx(0.5)  # short clip: padded window, real span
    raven_lines = raven.read_text().splitlines()
    assert raven_lines[0].startswith("Selection\tView\tChannel\tBegin Time (s)")
    assert len(raven_lines) == 1 + len(rows) - 1  # every detection, not the error row
    assert "broken.wav" in capsys.readouterr().err


def test_bundle_gives_the_same_result_as_the_model_file(tiny_audio_onnx, tmp_path) -> None:
    bundle = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.write(tiny_audio_onnx, "model.onnx")
        archive.writestr("labels.txt", "\n".join(AUDIO_LABELS))
    clip = write_tone(tmp_path / "clip.wav", 900, 2.0, 8000)
    assert main(["predict", str(bundle), str(clip), "--out", str(tmp_path / "a.csv")]) == 0
    assert main(["predict", str(tiny_audio_onnx), str(clip), "--out", str(tmp_path / "b.csv")]) == 0
    assert _rows(tmp_path / "a.csv") == _rows(tmp_path / "b.csv")


def test_artifact_without_manifest_and_corrupt_artifact_are_refused(tiny_audio_run, tmp_path, capsys) -> None:
    from nightscan_edge.checkpoint import load_trained_model
    from nightscan_edge.export.wrapper import ExportableClassifier

    model = load_trained_model(tiny_audio_run).model
    plain = tmp_path / "plain.onnx"
    torch.onnx.export(ExportableClassifier(model), (torch.zeros(1, model.spec.clip_samples),), str(plain), dynamo=False)
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"\x00" * 64)
    clip = write_tone(tmp_path / "clip.wav", 900, 1.0, 8000)
    for artifact, message in ((plain, "no NightScan manifest"), (corrupt, "no NightScan manifest")):
        assert main(["predict", str(artifact), str(clip)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and "\n" not in err


def test_photo_model_gives_one_row_per_image(tiny_photo_onnx, tmp_path) -> None:
    for name, colour in (("a.jpg", (200, 30, 30)), ("b.png", (30, 200, 30))):
        Image.new("RGB", (40, 40), colour).save(tmp_path / name)
    write_tone(tmp_path / "call.wav", 500, 1.0, 8000)  # audio given to a photo model
    out = tmp_path / "photos.csv"
    assert (
        main(
            [
                "predict",
                str(tiny_photo_onnx),
                str(tmp_path / "a.jpg"),
                str(tmp_path / "b.png"),
                str(tmp_path / "call.wav"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = {os.path.basename(r["file"]): r for r in _rows(out)}
    assert rows["a.jpg"]["label"] in PHOTO_LABELS and rows["a.jpg"]["start_s"] == "" and rows["b.png"]["error"] == ""
    assert "is audio but this model classifies photos" in rows["call.wav"]["error"]


@pytest.mark.slow
def test_serve_model_process_and_predict_with_server(tiny_audio_run, tiny_audio_onnx, tmp_path) -> None:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "src"), OMP_NUM_THREADS="1")
    server = subprocess.Popen(
        [sys.executable, "-m", "nightscan_edge.cli", "serve-model", str(tiny_audio_run), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/predict/model", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, "serve-model did not come up"
            time.sleep(0.3)
        clip = write_tone(tmp_path / "clip.wav", 900, 2.0, 8000)
        out = tmp_path / "fallback.csv"
        assert (
            main(
                [
                    "predict",
                    str(tiny_audio_onnx),
                    str(clip),
                    "--server",
                    f"http://127.0.0.1:{port}",
                    "--threshold",
                    "1.0",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        rows = _rows(out)
        assert rows and {r["source"] for r in rows} == {"server"} and not any(r["fallback_failed"] for r in rows)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_real_recordings_stream_through_the_edge_model(animal_sounds, tiny_audio_onnx, tmp_path) -> None:
    """Real field clips (FLAC, 44.1/48 kHz) decode, resample and window through the artifact."""
    clips = sorted((animal_sounds).rglob("*.flac"))[:3]
    out = tmp_path / "real.csv"
    assert main(["predict", str(tiny_audio_onnx), *map(str, clips), "--out", str(out)]) == 0
    rows = _rows(out)
    assert {os.path.basename(r["file"]) for r in rows} == {c.name for c in clips}
    assert not any(r["error"] for r in rows)


def test_grey_night_photos_feed_the_pretrained_rgb_model(tmp_path) -> None:
    """A 3-channel EfficientNet-Lite0 (random-weight stand-in, 32 px) given grey, grey+alpha and 16-bit IR frames:
    each is converted to what the model takes and predicted without error, by ``predict`` and by the web "Try it"."""
    from nightscan_edge.checkpoint import save_standalone_checkpoint
    from nightscan_edge.models import create_model
    from nightscan_edge.spec import ImageSpec
    from tests.predict.conftest import export_tiny_onnx

    torch.manual_seed(0)
    run_dir = tmp_path / "runs" / "effl0"
    model = create_model("efficientnet_lite0_photo", len(PHOTO_LABELS), spec=ImageSpec(image_size=32)).eval()
    save_standalone_checkpoint(run_dir / "best.ckpt", model, PHOTO_LABELS, run_id="effl0")
    onnx_path = export_tiny_onnx(run_dir, tmp_path / "export")
    gradient = np.tile(np.arange(0, 240, 6, dtype=np.uint8), (40, 1))
    Image.fromarray(gradient, "L").save(tmp_path / "ir.png")
    Image.fromarray(np.stack([gradient, np.full_like(gradient, 255)], axis=-1), "LA").save(tmp_path / "ir_alpha.png")
    Image.fromarray(gradient.astype(np.uint16) * 256).save(tmp_path / "ir16.png")
    files = [str(tmp_path / name) for name in ("ir.png", "ir_alpha.png", "ir16.png")]
    out = tmp_path / "night.csv"
    assert main(["predict", str(onnx_path), *files, "--out", str(out)]) == 0
    rows = _rows(out)
    assert [row["error"] for row in rows] == ["", "", ""]
    assert all(row["label"] in PHOTO_LABELS for row in rows)
    pytest.importorskip("fastapi")
    from nightscan_edge.web.routers.try_it import try_classifier

    for name in ("ir.png", "ir16.png"):
        tried = try_classifier(load_edge_classifier(onnx_path), tmp_path / name, threshold=0.5)
        assert tried["kind"] == "image" and tried["windows"][0]["label"] in PHOTO_LABELS
