"""Zero-shot pre-labelling with BirdNET's labels; the background class and its place in prediction."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile

from nightscan_edge.birdnet.prelabel import birdnet_confidence, prelabel, resolve_species
from nightscan_edge.config import resolve_config
from nightscan_edge.data.background import add_background, background_samples
from nightscan_edge.data.cache import MediaCache
from nightscan_edge.data.errors import DataError
from nightscan_edge.data.media import load_cached_media, media_segment, segment_path
from nightscan_edge.data.prepare import prepare_data
from nightscan_edge.data.sources import Sample
from nightscan_edge.models.birdnet_extractor import BirdNetError
from nightscan_edge.predict.windows import ScoredWindow, reported_detections
from nightscan_edge.spec import BACKGROUND_LABEL, AudioSpec
from tests.birdnet.conftest import requires_birdnet
from tests.conftest import write_tone

LABELS = ["Strix aluco_Tawny Owl", "Bubo bubo_Eurasian Eagle-Owl", "Athene noctua_Little Owl"]


def test_species_resolve_by_scientific_or_common_name_and_unknown_names_are_refused():
    assert resolve_species(["tawny owl", "Athene noctua"], LABELS).tolist() == [0, 2]
    assert resolve_species(None, LABELS).tolist() == [0, 1, 2]
    with pytest.raises(BirdNetError, match="'Strix alucco'.*close: strix aluco"):
        resolve_species(["Strix alucco"], LABELS)


def test_confidence_is_birdnets_flat_sigmoid():
    assert birdnet_confidence(np.array([0.0, 100.0]))[0] == 0.5
    assert birdnet_confidence(np.array([100.0]))[0] == pytest.approx(1 / (1 + np.exp(-15)))


@requires_birdnet
def test_prelabel_writes_a_draft_csv_and_one_folder_per_label(tmp_path):
    write_tone(tmp_path / "rec" / "night1.wav", 3000, 7.0, 32000)
    soundfile.write(str(tmp_path / "rec" / "silent.wav"), np.zeros(48000 * 4, np.float32), 48000)
    report = prelabel(tmp_path / "rec", tmp_path / "draft.csv", min_confidence=0.0)
    with (tmp_path / "draft.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["path", "start_s", "end_s", "label", "common_name", "confidence"]
    assert len(rows) == 3 and [r["start_s"] for r in rows] == ["0.000", "3.000", "4.000"]  # last window end-aligned
    assert report.silent_windows == 2 and report.kept == 3
    clips = sorted((tmp_path / "draft-clips").rglob("*.wav"))
    assert len(clips) == 3 and {c.parent.name for c in clips} == set(report.counts)
    assert soundfile.info(str(clips[0])).samplerate == 48000 and soundfile.info(str(clips[0])).frames == 144000
    strict = prelabel(tmp_path / "rec", tmp_path / "none.csv", species=["Strix aluco"], min_confidence=0.99)
    assert strict.kept == 0 and (tmp_path / "none.csv").read_text().startswith("path,")


@requires_birdnet
def test_prelabel_bad_input_is_one_clear_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        prelabel(tmp_path / "missing", tmp_path / "d.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BirdNetError, match="holds no audio files"):
        prelabel(tmp_path / "empty", tmp_path / "d.csv")
    with pytest.raises(BirdNetError, match="min-confidence"):
        prelabel(tmp_path / "empty", tmp_path / "d.csv", min_confidence=2)


def test_media_fragment_paths_round_trip_and_slice_their_file(tmp_path):
    path = write_tone(tmp_path / "amb.wav", 200, 3.0, 8000)
    segment = segment_path(path, 1.0, 1.5)
    assert media_segment(segment) == (path, (1.0, 1.5))
    spec = AudioSpec(sample_rate=8000, clip_samples=4000)
    full, part = load_cached_media(path, spec, MediaCache("none")), load_cached_media(segment, spec, MediaCache("none"))
    np.testing.assert_array_equal(part, full[8000:12000])


def test_background_windows_are_random_seeded_and_grouped_by_recording(tmp_path):
    for index in range(2):
        write_tone(tmp_path / "amb" / f"n{index}.wav", 100 + index, 10.0, 8000)
    spec = AudioSpec(sample_rate=8000, clip_samples=8000, n_fft=256, hop_length=128, n_mels=16)
    first = background_samples(tmp_path / "amb", spec, 6, seed=0)
    assert first == background_samples(tmp_path / "amb", spec, 6, seed=0)
    assert len(first) == 6 and all(s.label == BACKGROUND_LABEL and s.group for s in first)
    for sample in first:
        _, (start, end) = media_segment(sample.path)
        assert 0 <= start and end <= 10.0 and end - start == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(DataError, match="already has a class named 'background'"):
        add_background([Sample(tmp_path / "x.wav", BACKGROUND_LABEL)], tmp_path / "amb", spec, None, 0)
    with pytest.raises(DataError, match="not a folder"):
        background_samples(tmp_path / "nope", spec, 4, 0)
    manifest_split = [Sample(tmp_path / f"{i}.wav", "owl", "val" if i < 2 else "train") for i in range(8)]
    added = add_background(manifest_split, tmp_path / "amb", spec, 6, 0)[8:]
    assert {s.split for s in added} == {"train", "val"} and all(s.label == BACKGROUND_LABEL for s in added)


def test_background_class_is_added_to_the_data_and_resumes_from_split_csv(birdnet_data, tmp_path):
    from nightscan_edge.data.splits import write_split

    write_tone(tmp_path / "amb" / "night.wav", 60, 30.0, 22050)
    config = resolve_config({"data": {"path": str(birdnet_data), "background": str(tmp_path / "amb")}})
    prepared = prepare_data(config)
    assert BACKGROUND_LABEL in prepared.labels
    counts = {split: prepared.counts(split)[BACKGROUND_LABEL] for split in prepared.splits}
    assert counts["train"] >= 1 and counts["val"] >= 1
    write_split(prepared.plan, tmp_path / "split.csv")
    again = prepare_data(config, split_file=tmp_path / "split.csv")
    assert again.labels == prepared.labels and again.counts("val") == prepared.counts("val")


def test_prediction_never_reports_background_as_a_detection():
    labels = ["owl", BACKGROUND_LABEL]
    windows = [
        ScoredWindow(0.0, 3.0, np.array([0.1, 0.9], np.float32)),
        ScoredWindow(1.5, 4.5, np.array([0.8, 0.2], np.float32)),
        ScoredWindow(3.0, 6.0, np.array([0.3, 0.7], np.float32)),
    ]
    detections = reported_detections(windows, labels)
    assert [(d.label, d.start_s, d.end_s) for d in detections] == [("owl", 1.5, 4.5)]
