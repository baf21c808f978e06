"""Bad files give a clear per-file error and the rest of the batch is still processed; bad artifacts refuse."""

from __future__ import annotations

import dataclasses
import zipfile

import pytest
from PIL import Image

from nightscan_edge.predict import ArtifactError, EdgePredictor, load_edge_classifier
from nightscan_edge.predict.classifier import load_server_classifier
from nightscan_edge.predict.output import CsvWriter
from tests.conftest import write_tone


@pytest.fixture(scope="module")
def predictor(tiny_audio_run):
    return EdgePredictor(dataclasses.replace(load_server_classifier(tiny_audio_run), source="edge"))


@pytest.fixture
def batch(tmp_path):
    good = write_tone(tmp_path / "a_good.wav", 600, 2.0, 8000)
    (tmp_path / "b_text.wav").write_text("field notes, not audio\n" * 20)
    (tmp_path / "c_empty.flac").write_bytes(b"")
    Image.new("RGB", (32, 32)).save(tmp_path / "d_photo.jpg")
    flac = write_tone(tmp_path / "full.flac", 600, 6.0, 8000).read_bytes()
    (tmp_path / "e_truncated.flac").write_bytes(flac[: len(flac) // 2])
    (tmp_path / "full.flac").unlink()
    wav = write_tone(tmp_path / "full.wav", 600, 6.0, 8000).read_bytes()
    (tmp_path / "f_truncated.wav").write_bytes(wav[: len(wav) // 2])
    (tmp_path / "full.wav").unlink()
    return good, [
        tmp_path / name
        for name in (
            "b_text.wav",
            "c_empty.flac",
            "d_photo.jpg",
            "e_truncated.flac",
            "f_truncated.wav",
            "g_missing.wav",
        )
    ]


def test_each_bad_file_gets_its_own_error_and_the_batch_goes_on(predictor, batch, tmp_path) -> None:
    good, bad = batch
    results = {r.file.rsplit("/", 1)[-1]: r for r in predictor.predict_files([*bad, good])}
    assert results["a_good.wav"].error is None and results["a_good.wav"].detections
    assert "not decodable audio" in results["b_text.wav"].error
    assert "empty (0 bytes)" in results["c_empty.flac"].error
    assert "is an image but this model classifies audio" in results["d_photo.jpg"].error
    assert "truncated" in results["e_truncated.flac"].error
    assert "truncated WAV" in results["f_truncated.wav"].error
    assert "does not exist" in results["g_missing.wav"].error
    # What was decodable before the truncation is still predicted (a recorder that lost power).
    assert results["f_truncated.wav"].detections and results["f_truncated.wav"].detections[-1].end_s == pytest.approx(
        3.0, abs=0.01
    )
    for name in ("b_text.wav", "c_empty.flac", "d_photo.jpg", "g_missing.wav"):
        assert results[name].detections == []


def test_error_rows_in_the_csv(predictor, batch, tmp_path) -> None:
    import csv
    import io

    good, bad = batch
    buffer = io.StringIO()
    writer = CsvWriter(buffer)
    for result in predictor.predict_files([good, bad[0]]):
        writer.write(result)
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert rows[0]["file"].endswith("a_good.wav") and rows[0]["source"] == "edge" and rows[0]["error"] == ""
    assert float(rows[0]["start_s"]) == 0.0 and rows[-2]["end_s"] == "2.000"
    assert (
        rows[-1]["file"].endswith("b_text.wav")
        and "not decodable audio" in rows[-1]["error"]
        and rows[-1]["label"] == ""
    )


def test_folders_expand_to_media_files_only(predictor, tmp_path) -> None:
    write_tone(tmp_path / "night" / "one.wav", 600, 1.0, 8000)
    write_tone(tmp_path / "night" / "deeper" / "two.flac", 600, 1.0, 8000)
    (tmp_path / "night" / "notes.txt").write_text("not a recording")
    names = sorted(r.file.rsplit("/", 1)[-1] for r in predictor.predict_files([tmp_path / "night"]))
    assert names == ["one.wav", "two.flac"]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing.onnx", "does not exist"),
        (lambda d: (d / "model.txt").write_text("x") and d / "model.txt", "not an exported model"),
        (lambda d: d, "is a folder"),
        (lambda d: (d / "bundle.zip").write_bytes(b"not a zip") and d / "bundle.zip", "not a valid bundle.zip"),
        (lambda d: _zip(d / "bundle.zip", {"README.md": "hi"}), "holds no model file"),
    ],
)
def test_bad_artifacts_are_refused_clearly(tmp_path, make, message) -> None:
    with pytest.raises((ArtifactError, FileNotFoundError), match=message):
        load_edge_classifier(make(tmp_path))


def _zip(path, files):
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def test_bad_options_are_refused(predictor) -> None:
    with pytest.raises(ValueError, match="threshold"):
        EdgePredictor(predictor.classifier, threshold=1.5)
    with pytest.raises(ValueError, match="hop-seconds"):
        EdgePredictor(predictor.classifier, hop_seconds=0.0)
