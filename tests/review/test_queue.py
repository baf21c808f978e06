"""The review queue: windows in, decisions (conflicts, undo, idempotent retries), loaders, new data set versions."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import pytest

from nightscan_edge.data.sources import list_dataset
from nightscan_edge.review import (
    BadWindow,
    DecisionConflict,
    LabelNotAllowed,
    QueueNotFound,
    ReviewError,
    ReviewStore,
    Window,
    WindowNotFound,
    build_version,
    windows_from_detections_csv,
    windows_from_file,
    windows_from_prelabel,
    windows_from_raven,
)
from tests.conftest import write_tone


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    folder = tmp_path / "recordings"
    write_tone(folder / "night1.wav", 440, 6.0, 8000)
    write_tone(folder / "night2.wav", 880, 6.0, 8000)
    return folder


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "dataset"
    for label, hz in (("owl", 300), ("frog", 1200)):
        for index in range(2):
            write_tone(root / label / f"{label}{index}.wav", hz, 1.0, 8000, seed=index)
    return root


def _queue(tmp_path: Path, recordings: Path, dataset: Path | None = None) -> ReviewStore:
    store = ReviewStore(tmp_path / "data")
    store.create_queue("night", ["owl", "frog"], dataset=dataset)
    windows = [
        Window(
            recordings / f"night{n}.wav", start, start + 1.5, "owl" if n == 1 else "frog", 0.5 + start / 10, "suggest"
        )
        for n in (1, 2)
        for start in (0.0, 3.0)
    ]
    store.add_windows("night", windows, [recordings])
    return store


def test_windows_are_queued_once_in_order_and_confined(tmp_path, recordings):
    store = _queue(tmp_path, recordings)
    again = store.add_windows("night", [Window(recordings / "night1.wav", 0, 1.5, "owl", 0.5, "predict")], [recordings])
    assert (again.added, again.already_queued) == (0, 1)
    queued = store.windows("night")
    assert [(q.window.recording.name, q.window.start_s) for q in queued] == [
        ("night1.wav", 0.0),
        ("night1.wav", 3.0),
        ("night2.wav", 0.0),
        ("night2.wav", 3.0),
    ]
    with pytest.raises(BadWindow, match="outside the folders"):
        store.add_windows("night", [Window(recordings / "night1.wav", 0, 1, None, None, "suggest")], [tmp_path / "x"])
    with pytest.raises(BadWindow, match="not a stretch of time"):
        store.add_windows("night", [Window(recordings / "night1.wav", 2, 1, None, None, "suggest")], [recordings])
    with pytest.raises(QueueNotFound, match="no review queue 'day'"):
        store.windows("day")


def test_decisions_conflicts_retries_and_undo(tmp_path, recordings):
    store = _queue(tmp_path, recordings)
    first, second, third, fourth = store.windows("night")
    accepted = store.decide("night", first.id, "accept", tab="A")
    assert (accepted.action, accepted.label) == ("accept", "owl")
    assert store.decide("night", first.id, "accept", tab="B") == accepted  # the same decision: a retry, no conflict
    with pytest.raises(DecisionConflict, match="already decided in tab A: accept as 'owl'") as conflict:
        store.decide("night", first.id, "reject", tab="B")
    assert conflict.value.http_status == 409
    with pytest.raises(LabelNotAllowed, match="'bat' is not in the data set"):
        store.decide("night", second.id, "relabel", "bat")
    assert store.decide("night", second.id, "relabel", "frog").label == "frog"
    assert store.decide("night", third.id, "background").label == "background"
    assert store.decide("night", fourth.id, "reject").label is None
    assert store.counts("night").pending == 0
    undone = store.undo("night")  # the latest: the reject
    assert undone.window_id == fourth.id and store.window("night", fourth.id).decision is None
    with pytest.raises(DecisionConflict, match="already undone"):
        store.undo("night", undone.id)
    store.remove_window("night", fourth.id)
    with pytest.raises(WindowNotFound, match="not in review queue night"):
        store.decide("night", fourth.id, "accept")
    with pytest.raises(ReviewError, match="not one of"):
        store.decide("night", first.id, "maybe")
    history = store.history("night")
    assert [d.action for d in history] == ["accept", "relabel", "background", "reject"] and history[-1].undone


def test_two_writers_deciding_the_same_window_at_once_one_wins(tmp_path, recordings):
    """Two tabs' requests in two threads, each with its own store and connection, released together."""
    store = _queue(tmp_path, recordings)
    window_id = store.windows("night")[0].id
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(action: str) -> None:
        writer = ReviewStore(tmp_path / "data")
        start.wait()
        try:
            writer.decide("night", window_id, action, tab=action)
            outcomes.append("ok")
        except DecisionConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=decide, args=(action,)) for action in ("accept", "reject")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    assert len([d for d in store.history("night") if d.undone is None]) == 1


def test_a_new_version_holds_the_original_and_the_filed_windows(tmp_path, recordings, dataset):
    store = _queue(tmp_path, recordings, dataset)
    before = sorted(p.relative_to(dataset) for p in dataset.rglob("*"))
    first, second, third, fourth = store.windows("night")
    store.decide("night", first.id, "accept")
    store.decide("night", second.id, "background")
    store.decide("night", third.id, "reject")
    version = build_version(store, "night", tmp_path / "versions")
    assert version.path.name == "night-v1" and version.clips == {"owl": 1, "background": 1}
    listing = list_dataset(version.path)
    assert listing.counts() == {"background": 1, "frog": 2, "owl": 3}
    assert sorted(p.relative_to(dataset) for p in dataset.rglob("*")) == before  # the original untouched
    store.decide("night", fourth.id, "accept")
    assert build_version(store, "night", tmp_path / "versions").path.name == "night-v2"
    assert (version.path / "manifest.csv").is_file()  # v1 stays as it was


def test_loaders_read_prelabel_predict_and_raven(tmp_path, recordings):
    prelabel = tmp_path / "draft.csv"
    prelabel.write_text(
        "path,start_s,end_s,label,common_name,confidence\n"
        f"{recordings / 'night1.wav'},0.000,3.000,Strix_Owl,Owl,0.8100\n"
        "recordings/night2.wav,3.000,6.000,Rana_Frog,Frog,0.6000\n"
    )
    windows = windows_from_prelabel(prelabel)
    assert [(w.recording.name, w.start_s, w.label, w.confidence, w.source) for w in windows] == [
        ("night1.wav", 0.0, "Strix_Owl", 0.81, "prelabel"),
        ("night2.wav", 3.0, "Rana_Frog", 0.6, "prelabel"),
    ]
    detections = tmp_path / "detections.csv"
    with detections.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["file", "start_s", "end_s", "label", "confidence", "source", "top_k", "fallback_failed", "error"]
        )
        writer.writerow([recordings / "night1.wav", "1.000", "2.000", "owl", "0.5500", "edge", "", "", ""])
        writer.writerow([recordings / "broken.wav", "", "", "", "", "", "", "", "not audio"])
    assert [(w.start_s, w.end_s, w.confidence) for w in windows_from_file(detections)] == [(1.0, 2.0, 0.55)]
    raven = tmp_path / "table.txt"
    raven.write_text(
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tBegin File\tSpecies\t"
        "Confidence\tSource\n"
        "1\tSpectrogram 1\t1\t0.500\t1.500\t0\t4000\tnight2.wav\tfrog\t0.7000\tedge\n"
    )
    (tmp_path / "night2.wav").write_bytes((recordings / "night2.wav").read_bytes())
    assert [(w.label, w.confidence) for w in windows_from_raven(raven)] == [("frog", 0.7)]


def test_loaders_refuse_rows_past_the_recording_in_one_line(tmp_path, recordings):
    draft = tmp_path / "draft.csv"
    draft.write_text(f"path,start_s,end_s,label,confidence\n{recordings / 'night1.wav'},5,9,owl,0.5\n")
    with pytest.raises(BadWindow, match="line 2: ends at 9 s, past the end"):
        windows_from_prelabel(draft)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("recording,begin\nx,1\n")
    with pytest.raises(BadWindow, match="not a `data prelabel` CSV"):
        windows_from_file(wrong)
    detections = tmp_path / "d.csv"
    detections.write_text(f"file,start_s,end_s,label,confidence\n{recordings / 'night1.wav'},0,1,owl,7\n")
    with pytest.raises(BadWindow, match="confidence 7 is not between 0 and 1"):
        windows_from_detections_csv(detections)


def test_archive_parquet_windows_are_read_relative_to_the_archive_root(tmp_path, recordings):
    pa = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "archive-out"
    folder = out / "detections" / "site=a" / "date=2026-12-01"
    folder.mkdir(parents=True)
    (out / "archive.json").write_text(json.dumps({"archive_root": str(recordings)}))
    rows = {
        "path": ["night1.wav", "night1.wav", "night2.wav"],
        "start_s": [0.0, 3.0, None],
        "end_s": [3.0, 6.0, None],
        "label": ["owl", "frog", None],
        "confidence": [0.25, 0.5, None],
        "error": [None, None, "unreadable"],
    }
    parquet.write_table(pa.table(rows), folder / "night1.parquet")
    windows = windows_from_file(out)
    assert [(w.recording, w.start_s, w.label, w.confidence, w.source) for w in windows] == [
        ((recordings / "night1.wav").resolve(), 0.0, "owl", 0.25, "predict"),
        ((recordings / "night1.wav").resolve(), 3.0, "frog", 0.5, "predict"),
    ]
    (out / "archive.json").unlink()
    with pytest.raises(BadWindow, match="no readable archive.json"):
        windows_from_file(out)
