"""Annotation interop: the project's CSV <-> Raven selection tables and Label Studio JSON, and clips cut from it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from nightscan_edge.commands import data as data_command
from nightscan_edge.data.annotations import Annotation, read_annotation_csv, write_annotation_csv
from nightscan_edge.data.annotations.labelstudio import read_labelstudio, write_labelstudio
from nightscan_edge.data.annotations.raven import read_raven
from nightscan_edge.predict.edge_predictor import FilePrediction
from nightscan_edge.predict.output import RavenWriter
from nightscan_edge.predict.windows import Detection
from tests.conftest import write_tone


def _run(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    data_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.handler(args)


@pytest.fixture
def recordings(tmp_path) -> tuple[Path, Path]:
    audio = tmp_path / "audio"
    audio.mkdir()
    return write_tone(audio / "night 1.wav", 440, 10.0, 16000), write_tone(audio / "night2.flac", 880, 6.0, 8000)


@pytest.fixture
def annotation_csv(tmp_path, recordings) -> Path:
    first, second = recordings
    rows = [
        "path,start_s,end_s,label,common_name,confidence",
        f"audio/{first.name},0.500,2.250,Strix aluco,Tawny Owl,0.9",
        f"audio/{first.name},7.000,9.999,Bubo bubo,Eurasian Eagle-Owl,0.8",
        f"{second},1.000,3.000,Strix aluco,Tawny Owl,0.7",
    ]
    path = tmp_path / "draft.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_csv_raven_csv_round_trip_is_equal(annotation_csv, tmp_path):
    original = read_annotation_csv(annotation_csv)
    assert (
        _run(["data", "export-annotations", str(annotation_csv), "--format", "raven", "--out", str(tmp_path / "t.txt")])
        == 0
    )
    header = (tmp_path / "t.txt").read_text().splitlines()[0]
    assert header.startswith("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)")
    assert (
        _run(
            [
                "data",
                "import-annotations",
                str(tmp_path / "t.txt"),
                "--format",
                "raven",
                "--out",
                str(tmp_path / "back.csv"),
            ]
        )
        == 0
    )
    assert read_annotation_csv(tmp_path / "back.csv") == original
    # Nyquist of each recording as the selection's upper frequency
    rows = [line.split("\t") for line in (tmp_path / "t.txt").read_text().splitlines()[1:]]
    assert [row[6] for row in rows] == ["8000", "8000", "4000"]


def test_csv_labelstudio_csv_round_trip_is_equal(annotation_csv, tmp_path):
    original = read_annotation_csv(annotation_csv)
    out = tmp_path / "tasks.json"
    assert (
        _run(
            [
                "data",
                "export-annotations",
                str(annotation_csv),
                "--format",
                "labelstudio",
                "--out",
                str(out),
                "--audio-root",
                str(tmp_path),
            ]
        )
        == 0
    )
    tasks = json.loads(out.read_text())
    assert len(tasks) == 2
    assert tasks[0]["data"]["audio"] == "/data/local-files/?d=audio/night%201.wav"
    region = tasks[0]["annotations"][0]["result"][0]
    assert region["type"] == "labels" and region["from_name"] == "label" and region["to_name"] == "audio"
    assert region["value"]["start"] == 0.5 and region["value"]["labels"] == ["Strix aluco"]
    assert (
        _run(
            [
                "data",
                "import-annotations",
                str(out),
                "--format",
                "labelstudio",
                "--out",
                str(tmp_path / "back.csv"),
                "--audio-root",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert read_annotation_csv(tmp_path / "back.csv") == original


def test_written_csv_keeps_paths_relative_to_its_folder(annotation_csv, tmp_path):
    annotations = read_annotation_csv(annotation_csv)
    write_annotation_csv(tmp_path / "copy.csv", annotations)
    assert (tmp_path / "copy.csv").read_text().splitlines()[1] == "audio/night 1.wav,0.500,2.250,Strix aluco"


def test_raven_keeps_one_row_per_selection_and_reads_measurements(recordings, tmp_path):
    first, _ = recordings
    table = tmp_path / "night.Table.1.selections.txt"
    table.write_text(
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)"
        "\tDelta Time (s)\tAnnotation\n"
        "1\tWaveform 1\t1\t1.0\t2.0\t0\t8000\t1.0\towl\n"
        "1\tSpectrogram 1\t1\t1.1\t2.0\t300\t4000\t0.9\towl\n"
        "2\tSpectrogram 1\t1\t4.0\t5.5\t300\t4000\t1.5\tfox\n"
    )
    annotations = read_raven(table, recording=first)
    assert annotations == [Annotation(first, 1.1, 2.0, "owl"), Annotation(first, 4.0, 5.5, "fox")]


def test_raven_table_from_predict_reads_back(recordings, tmp_path):
    first, _ = recordings
    buffer = io.StringIO()
    writer = RavenWriter(buffer, 0, 8000)
    writer.write(
        FilePrediction(str(first), [Detection(0.0, 2.95, "owl", 0.9, "edge"), Detection(5.9, 8.85, "fox", 0.7, "edge")])
    )
    table = first.parent / "predicted.txt"
    table.write_text(buffer.getvalue())
    annotations = read_raven(table)  # Begin File beside the table names the recording
    assert [(a.path, a.start_s, a.end_s, a.label) for a in annotations] == [
        (first, 0.0, 2.95, "owl"),
        (first, 5.9, 8.85, "fox"),
    ]


def test_labelstudio_uses_the_last_annotation_not_cancelled(recordings, tmp_path):
    first, _ = recordings
    region = {"type": "labels", "from_name": "label", "to_name": "audio"}
    tasks = [
        {
            "data": {"audio": str(first)},
            "annotations": [
                {"result": [region | {"value": {"start": 1, "end": 2, "labels": ["old"]}}]},
                {
                    "result": [
                        region | {"value": {"start": 1, "end": 2.5, "labels": ["owl", "fox"]}},
                        {"type": "textarea", "value": {"text": ["a note"]}},
                    ]
                },
                {"was_cancelled": True, "result": [region | {"value": {"start": 0, "end": 1, "labels": ["no"]}}]},
            ],
        }
    ]
    source = tmp_path / "export.json"
    source.write_text(json.dumps(tasks))
    assert read_labelstudio(source) == [Annotation(first, 1, 2.5, "owl"), Annotation(first, 1, 2.5, "fox")]
    write_labelstudio(tmp_path / "again.json", read_labelstudio(source))
    assert read_labelstudio(tmp_path / "again.json") == read_labelstudio(source)


def test_clips_from_annotations_cut_the_exact_samples(annotation_csv, recordings, tmp_path):
    first, second = recordings
    out = tmp_path / "clips"
    assert _run(["data", "clips-from-annotations", str(annotation_csv), "--out", str(out)]) == 0
    clips = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav"))
    assert clips == [
        "Bubo bubo/night 1_00007.000s.wav",
        "Strix aluco/night 1_00000.500s.wav",
        "Strix aluco/night2_00001.000s.wav",
    ]
    clip, rate = soundfile.read(out / "Strix aluco" / "night2_00001.000s.wav", dtype="float32")
    whole, source_rate = soundfile.read(second, dtype="float32")
    assert rate == source_rate == 8000
    np.testing.assert_array_equal(clip, whole[8000:24000])
    assert soundfile.info(out / "Bubo bubo" / "night 1_00007.000s.wav").frames == round(2.999 * 16000)
