"""``review suggest``: the least sure windows of a run go into a review queue, new ones on every call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nightscan_edge.cli import main
from nightscan_edge.review import ReviewError, ReviewStore
from nightscan_edge.review.suggest import default_queue_name, suggest_into_queue
from tests.conftest import write_tone
from tests.predict.conftest import TINY_AUDIO_SPEC, tiny_audio_run  # noqa: F401 -- the fixture


@pytest.fixture
def night(tmp_path) -> Path:
    for index, frequency in enumerate((400, 900, 1500, 2500)):
        write_tone(tmp_path / "night" / f"n{index}.wav", frequency, 2.5, TINY_AUDIO_SPEC.sample_rate, seed=index)
    return tmp_path / "night"


def test_cli_queues_the_picks_and_a_second_call_brings_new_ones(tiny_audio_run, night, tmp_path, capsys) -> None:  # noqa: F811
    data_dir, result = tmp_path / "web", tmp_path / "result.json"
    command = ["review", "suggest", str(tiny_audio_run), str(night), "--n", "6", "--data-dir", str(data_dir)]
    assert main([*command, "--result", str(result)]) == 0
    err = capsys.readouterr().err
    assert "queued 6 window(s) of " in err and "review queue suggest-tiny-audio" in err and "margin" in err
    store = ReviewStore(data_dir)
    first = store.windows("suggest-tiny-audio")
    assert len(first) == 6 and {q.window.source for q in first} == {"suggest"}
    assert {q.window.label for q in first} <= {"owl", "fox", "bat"}
    per_recording = [sum(q.window.recording.name == f"n{i}.wav" for q in first) for i in range(4)]
    assert max(per_recording) <= 3  # twice the fair share: ceil(2 * 6 / 4)
    assert store.queue("suggest-tiny-audio").labels == ("owl", "fox", "bat")
    assert json.loads(result.read_text())["added"] == 6

    assert main(command) == 0
    second = store.windows("suggest-tiny-audio")
    assert len(second) == 12  # six more, none picked twice
    assert len({(q.window.recording, q.window.start_s) for q in second}) == 12


def test_a_named_queue_must_take_the_runs_labels(tiny_audio_run, night, tmp_path) -> None:  # noqa: F811
    store = ReviewStore(tmp_path / "web")
    store.create_queue("owls", ["owl", "fox", "bat", "deer"], "audio")
    report = suggest_into_queue(tmp_path / "web", tiny_audio_run, night, n=3, queue="owls")
    assert (report.queue, report.added) == ("owls", 3)
    store.create_queue("frogs", ["frog"], "audio")
    with pytest.raises(ReviewError, match="proposes labels queue frogs does not have"):
        suggest_into_queue(tmp_path / "web", tiny_audio_run, night, n=3, queue="frogs")
    store.create_queue("photos", ["owl", "fox", "bat"], "image")
    with pytest.raises(ReviewError, match="queue photos reviews photos but run tiny-audio classifies recordings"):
        suggest_into_queue(tmp_path / "web", tiny_audio_run, night, n=3, queue="photos")


def test_default_queue_names_are_valid() -> None:
    assert default_queue_name("2026-12-07_Owls v2") == "suggest-2026-12-07_owls-v2"
    assert default_queue_name("///") == "suggest-run"
    assert len(default_queue_name("x" * 200)) == 64
