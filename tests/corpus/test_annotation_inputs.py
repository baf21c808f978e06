"""Bad annotation files (Raven tables, Label Studio JSON, annotation CSVs): exit 2, ONE ``error:`` line naming
the problem, and the output that was already there is unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import write_tone
from tests.corpus.conftest import assert_one_line_error, tree_hash

HEADER = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)"


def _raven(rows: list[str], header: str = HEADER + "\tSpecies") -> str:
    return "\n".join([header, *rows]) + "\n"


def _studio(value: dict, audio: str = "{recording}") -> str:
    region = {"type": "labels", "from_name": "label", "to_name": "audio", "value": value}
    return json.dumps([{"data": {"audio": audio}, "annotations": [{"result": [region]}]}])


# case -> (format, file text with {recording}, extra CLI arguments, words the one line names)
CASES = {
    "raven_missing_column": (
        "raven",
        _raven(["1\tSpectrogram 1\t1\t1\t2\t0\t8000\towl"], HEADER.replace("\tChannel", "") + "\tSpecies"),
        [],
        ("missing column", "Channel"),
    ),
    "raven_unknown_column": (
        "raven",
        _raven(["1\tSpectrogram 1\t1\t1\t2\t0\t8000\towl\tx"], HEADER + "\tSpecies\tCall Type"),
        [],
        ("unknown column", "Call Type", "--label-column"),
    ),
    "raven_no_label_column": (
        "raven",
        _raven(["1\tSpectrogram 1\t1\t1\t2\t0\t8000"], HEADER),
        [],
        ("no annotation column",),
    ),
    "raven_past_the_end": (
        "raven",
        _raven(["1\tSpectrogram 1\t1\t3\t12.5\t0\t8000\towl"]),
        [],
        ("past the end", "12.5"),
    ),
    "raven_start_after_end": ("raven", _raven(["1\tSpectrogram 1\t1\t4\t2\t0\t8000\towl"]), [], ("not before end",)),
    "raven_not_a_number": (
        "raven",
        _raven(["1\tSpectrogram 1\t1\tabc\t2\t0\t8000\towl"]),
        [],
        ("Begin Time (s)", "not a number"),
    ),
    "raven_label_not_listed": (
        "raven",
        _raven(["1\tSpectrogram 1\t1\t1\t2\t0\t8000\tbadger"]),
        ["--labels", "owl", "fox"],
        ("badger", "not in the label list"),
    ),
    "raven_no_recording": (
        "raven",
        _raven(["1\tSpectrogram 1\t1\t1\t2\t0\t8000\towl"]),
        ["--no-recording"],
        ("--recording",),
    ),
    "studio_broken_json": (
        "labelstudio",
        '[{"data": {"audio": "x.wav"}, "annotations": [',
        [],
        ("broken JSON", "line 1"),
    ),
    "studio_not_tasks": ("labelstudio", '{"a": 1}', [], ("no 'data' object",)),
    "studio_past_the_end": ("labelstudio", _studio({"start": 9, "end": 11, "labels": ["owl"]}), [], ("past the end",)),
    "studio_start_after_end": (
        "labelstudio",
        _studio({"start": 5, "end": 4, "labels": ["owl"]}),
        [],
        ("not before end",),
    ),
    "studio_missing_value": ("labelstudio", _studio({"start": 1, "end": 2}), [], ("value.labels",)),
    "studio_uploaded_audio": (
        "labelstudio",
        _studio({"start": 1, "end": 2, "labels": ["owl"]}, "/data/upload/3/ab-night.wav"),
        ["--no-recording"],
        ("not a local file", "--recording"),
    ),
    "studio_label_not_listed": (
        "labelstudio",
        _studio({"start": 1, "end": 2, "labels": ["badger"]}),
        ["--labels", "owl"],
        ("badger",),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_annotation_file_is_refused_in_one_line(case, tmp_path, cli):
    kind, text, extra, words = CASES[case]
    recording = write_tone(tmp_path / "night.wav", 440, 10.0, 8000)
    source = tmp_path / ("table.txt" if kind == "raven" else "tasks.json")
    source.write_text(text.replace("{recording}", str(recording)))
    out = tmp_path / "annotations.csv"
    out.write_text("path,start_s,end_s,label\nkept.wav,0,1,owl\n")
    before = tree_hash(out)
    arguments = [a for a in extra if a != "--no-recording"]
    if "--no-recording" not in extra and kind == "raven":
        arguments += ["--recording", recording]
    code, stderr = cli("data", "import-annotations", source, "--format", kind, "--out", out, *arguments)
    assert code == 2
    assert_one_line_error(stderr, *words)
    assert tree_hash(out) == before


CSV_CASES = {
    "csv_missing_column": ("path,start,end_s,label\n{recording},1,2,owl\n", ("missing column", "start_s")),
    "csv_past_the_end": (
        "path,start_s,end_s,label\n{recording},1,2,owl\n{recording},9,10.5,owl\n",
        ("line 3", "past the end"),
    ),
    "csv_start_after_end": ("path,start_s,end_s,label\n{recording},3,2,owl\n", ("line 2", "not before end")),
    "csv_missing_recording": ("path,start_s,end_s,label\nelsewhere.wav,1,2,owl\n", ("elsewhere.wav", "not found")),
}


@pytest.mark.parametrize("command", ["export-raven", "export-labelstudio", "clips"])
@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_bad_annotation_csv_writes_nothing(case, command, tmp_path, cli):
    text, words = CSV_CASES[case]
    recording = write_tone(tmp_path / "night.wav", 440, 10.0, 8000)
    source = tmp_path / "annotations.csv"
    source.write_text(text.replace("{recording}", str(recording)))
    out = tmp_path / "out"
    if command == "clips":
        code, stderr = cli("data", "clips-from-annotations", source, "--out", out)
    else:
        code, stderr = cli("data", "export-annotations", source, "--format", command.split("-")[1], "--out", out)
    assert code == 2
    assert_one_line_error(stderr, *words)
    assert not out.exists()


def test_clips_refuse_a_label_not_listed_before_cutting_any(tmp_path, cli):
    recording = write_tone(tmp_path / "night.wav", 440, 10.0, 8000)
    source = tmp_path / "annotations.csv"
    source.write_text(f"path,start_s,end_s,label\n{recording},1,2,owl\n{recording},3,4,badger\n")
    code, stderr = cli("data", "clips-from-annotations", source, "--out", tmp_path / "clips", "--labels", "owl")
    assert code == 2
    assert_one_line_error(stderr, "badger", "not in the label list")
    assert not (tmp_path / "clips").exists()


def test_an_annotation_path_is_read_relative_to_its_csv(tmp_path: Path, cli):
    write_tone(tmp_path / "night.wav", 440, 10.0, 8000)
    (tmp_path / "a.csv").write_text("path,start_s,end_s,label\nnight.wav,1,2,owl\n")
    code, _ = cli("data", "clips-from-annotations", tmp_path / "a.csv", "--out", tmp_path / "clips")
    assert code == 0 and (tmp_path / "clips" / "owl" / "night_00001.000s.wav").is_file()
