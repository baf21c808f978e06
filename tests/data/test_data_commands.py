"""``nightscan-edge data synth|esc50|inspect`` and the samples API that export/bench use."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import numpy as np
import pytest
import soundfile

from nightscan_edge.commands import data as data_command
from nightscan_edge.data import DataError, inspect_dataset, load_folder_samples, write_synthetic_dataset
from nightscan_edge.data.esc50 import convert_esc50
from nightscan_edge.spec import AudioSpec, ImageSpec
from tests.conftest import write_tone


def _run(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    data_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.handler(args)


def test_synth_audio_writes_a_labeled_clearly_synthetic_set(tmp_path, capsys):
    assert _run(["data", "synth", str(tmp_path / "demo"), "--per-class", "4"]) == 0
    summary = inspect_dataset(tmp_path / "demo")
    assert summary["kind"] == "audio" and summary["total"] == 16 and not summary["bad_files"]
    assert all(label.startswith("synthetic_") for label in summary["classes"])
    assert "SYNTHETIC" in (tmp_path / "demo" / "README.txt").read_text()
    assert "SYNTHETIC audio demo set" in capsys.readouterr().out


def test_synth_photo_writes_images(tmp_path):
    write_synthetic_dataset(tmp_path / "shapes", kind="photo", per_class=3, image_size=32)
    summary = inspect_dataset(tmp_path / "shapes")
    assert summary["kind"] == "image" and summary["counts"] == {c: 3 for c in summary["classes"]}


def test_inspect_lists_bad_files_with_reasons(tmp_path, capsys):
    for label, freq in (("owl", 500), ("bat", 3000)):
        write_tone(tmp_path / label / "ok.wav", freq, 0.3, 16000)
    (tmp_path / "owl" / "broken.wav").write_bytes(b"garbage")
    (tmp_path / "bat" / "empty.flac").write_bytes(b"")
    (tmp_path / "bat" / "readme.txt").write_text("hi")
    summary = inspect_dataset(tmp_path)
    assert summary["counts"] == {"bat": 1, "owl": 1}
    reasons = {item["path"].rsplit("/", 1)[-1]: item["reason"] for item in summary["bad_files"]}
    assert reasons["empty.flac"] == "empty file"
    assert reasons["readme.txt"] == "not an audio or image file"
    assert "not decodable" in reasons["broken.wav"]
    assert _run(["data", "inspect", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 2


def _tiny_esc50(path, rows):
    with zipfile.ZipFile(path, "w") as bundle:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        for name, fold, category, esc10, src in rows:
            writer.writerow([name, fold, 0, category, esc10, src, "A"])
            audio = io.BytesIO()
            soundfile.write(audio, np.zeros(4410, dtype=np.float32), 44100, format="WAV")
            bundle.writestr(f"ESC-50-master/audio/{name}", audio.getvalue())
        bundle.writestr("ESC-50-master/meta/esc50.csv", text.getvalue())


def test_esc50_archive_converts_to_a_manifest_with_folds_and_groups(tmp_path):
    archive = tmp_path / "esc50.zip"
    _tiny_esc50(
        archive,
        [
            ("1-1-A-0.wav", 1, "dog", "True", "1"),
            ("2-1-A-0.wav", 2, "dog", "True", "2"),
            ("1-2-A-1.wav", 1, "rooster", "False", "3"),
        ],
    )
    assert _run(["data", "esc50", str(tmp_path / "out"), "--archive", str(archive)]) == 0
    with (tmp_path / "out" / "manifest.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0] == {"path": "audio/1-1-A-0.wav", "label": "dog", "fold": "1", "group": "1"}
    assert inspect_dataset(tmp_path / "out")["total"] == 3
    convert_esc50(archive, tmp_path / "esc10", esc10_only=True)
    assert inspect_dataset(tmp_path / "esc10")["classes"] == ["dog"]


def test_esc50_rejects_an_archive_of_another_layout(tmp_path):
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("something.txt", "x")
    with pytest.raises(DataError, match="no meta/esc50.csv"):
        convert_esc50(archive, tmp_path / "out")


def test_folder_samples_are_model_inputs_in_the_models_label_order(tmp_path):
    write_tone(tmp_path / "owl" / "a.wav", 500, 0.3, 22050)
    write_tone(tmp_path / "bat" / "b.wav", 3000, 0.1, 22050)
    spec = AudioSpec(clip_samples=2048, n_fft=256, hop_length=128, n_mels=16)
    inputs, labels, sources = load_folder_samples(tmp_path, spec, ["owl", "bat", "frog"])
    assert inputs.dtype == np.float32 and inputs.shape[1] == 2048
    assert labels.dtype == np.int64
    assert set(labels.tolist()) == {0, 1}
    assert len(sources) == len(inputs) and sources[-1].endswith("a.wav") or sources[0].endswith("b.wav")
    with pytest.raises(DataError, match="does not know: bat"):
        load_folder_samples(tmp_path, spec, ["owl", "frog"])
    photos = write_synthetic_dataset(tmp_path / "p", kind="photo", per_class=3, image_size=40)
    spec = ImageSpec(image_size=32)
    inputs, labels, _ = load_folder_samples(photos, spec, inspect_dataset(photos)["classes"], limit=5)
    assert inputs.shape == (5, 3, 32, 32) and abs(float(inputs.mean())) < 3


def test_inspect_counts_a_truncated_flac_unusable_and_reports_file_facts(tmp_path):
    import numpy as np
    import soundfile

    noise = (np.random.default_rng(0).standard_normal(8000 * 3) * 0.1).astype("float32")
    for label in ("bat", "owl"):
        (tmp_path / "night" / label).mkdir(parents=True)
        soundfile.write(tmp_path / "night" / label / "whole.flac", noise, 8000)
    cut = tmp_path / "night" / "owl" / "cut.flac"
    cut.write_bytes((tmp_path / "night" / "owl" / "whole.flac").read_bytes()[:2048])  # header still says 3 s
    summary = inspect_dataset(tmp_path / "night")
    rows = {row["path"]: row for row in summary["files"]}
    assert not rows["owl/cut.flac"]["ok"] and "truncated" in rows["owl/cut.flac"]["reason"]
    assert rows["owl/cut.flac"]["duration_s"] == 3.0
    whole = rows["owl/whole.flac"]
    assert whole["ok"] and whole["sample_rate"] == 8000 and whole["channels"] == 1 and whole["label"] == "owl"
    assert summary["counts"] == {"bat": 1, "owl": 1} and summary["total"] == 2
    assert [bad["path"].endswith("cut.flac") for bad in summary["bad_files"]] == [True]
