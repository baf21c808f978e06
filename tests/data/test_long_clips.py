"""A clip far longer than the others of its class (a whole night dropped into a class folder) is named in one line
at train time, with what to do; ordinary spreads of clip lengths and the background class are left alone."""

from __future__ import annotations

from pathlib import Path

from nightscan_edge.data.long_clips import far_longer_clips, long_clips_message
from nightscan_edge.data.prepare import prepare_data
from nightscan_edge.train import read_events, train
from tests.conftest import write_set_with_a_long_clip
from tests.train.conftest import tiny_audio_config


def _clips(label: str, *seconds: float) -> list[tuple[Path, str, float]]:
    return [(Path(f"/set/{label}/{label}{i}.wav"), label, s) for i, s in enumerate(seconds)]


def test_a_night_among_calls_is_found_and_named_in_one_line():
    night = (Path("/set/owl/night-2026-06-01.flac"), "owl", 3 * 3600.0)
    found = far_longer_clips([*_clips("owl", 3, 2.5, 4, 3), night, *_clips("fox", 5, 6, 4)])
    assert [(clip.path, clip.seconds, clip.class_median_seconds) for clip in found] == [(night[0], 10800.0, 3.0)]
    message = long_clips_message(found)
    assert "\n" not in message and "night-2026-06-01.flac is 3.0 h (class 'owl': median 3.0 s)" in message
    assert message.startswith("1 clip(s) far longer than the others of their class, likely unlabelled recordings")
    assert "review" in message


def test_ordinary_spreads_and_tiny_classes_are_left_alone():
    assert far_longer_clips(_clips("owl", 2, 2, 30)) == []  # 15x, but a 30 s clip is still a clip
    assert far_longer_clips(_clips("owl", 60, 90, 300)) == []  # long recordings all: 3.3x the median
    assert far_longer_clips(_clips("owl", 3, 7200)) == []  # two clips give no median worth comparing with


def test_the_line_names_five_and_counts_the_rest():
    nights = [(Path(f"/set/owl/night{i}.flac"), "owl", 3600.0 + i) for i in range(7)]
    message = long_clips_message(far_longer_clips([*_clips("owl", *[3.0] * 20), *nights]))
    assert message.startswith("7 clip(s)") and "night6.flac" in message and "night1.flac" not in message
    assert "... 2 more" in message


def test_training_says_so_in_one_warning_and_still_trains(tmp_path, caplog):
    folder, night = write_set_with_a_long_clip(tmp_path / "set")
    config = tiny_audio_config(folder, epochs=1)
    prepared = prepare_data(config)
    assert [(clip.path, clip.label, round(clip.seconds)) for clip in prepared.long_clips] == [(night, "owl", 90)]
    result = train(config, run_dir=tmp_path / "run", progress=False)
    assert result.status == "done"
    events = read_events(tmp_path / "run" / "events.jsonl")
    warnings = [e["message"] for e in events if e["type"] == "log" and "far longer" in e["message"]]
    assert len(warnings) == 1 and "night.wav is 1.5 min (class 'owl': median 1.0 s)" in warnings[0]
    assert any("far longer" in record.getMessage() for record in caplog.records if record.levelname == "WARNING")
