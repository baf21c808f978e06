"""The review half of the bad-input corpus: decisions for a window that left the queue, labels the data set does
not have, two tabs deciding one window, broken JSON, files of windows that are outside the roots, past the end of
their recording or of an unknown kind. Each case: the status, ONE line naming the problem, and every decision
already made (and the queue) unchanged."""

from __future__ import annotations

import pytest

from tests.corpus.conftest import assert_one_line_detail
from tests.web.conftest import client, dataset_root, register, settings, tiny_audio  # noqa: F401
from tests.web.test_review import open_queue

pytest.importorskip("fastapi")


@pytest.fixture
def reviewing(client, tiny_audio, dataset_root):  # noqa: F811
    open_queue(client, tiny_audio, dataset_root)
    windows = client.get("/api/review/nights/windows").json()
    decided = client.post(
        "/api/review/nights/decisions", json={"window_id": windows[0]["id"], "action": "accept", "tab": "A"}
    )
    assert decided.status_code == 201
    return windows


def _state(client) -> list:  # noqa: F811
    return [(w["id"], w["decision"]) for w in client.get("/api/review/nights/windows").json()]


def _decide(client, body):  # noqa: F811
    return client.post("/api/review/nights/decisions", json=body)


def test_decisions_refused_in_one_line_and_nothing_lost(client, reviewing, dataset_root):  # noqa: F811
    first, second = reviewing[0], reviewing[1]
    before = _state(client)
    cases = [
        (_decide(client, {"window_id": 999_999, "action": "accept"}), 404, "window 999999", "not in review queue"),
        (_decide(client, {"window_id": second["id"], "action": "relabel", "label": "bat"}), 422, "'bat'", "not in"),
        (_decide(client, {"window_id": first["id"], "action": "reject", "tab": "B"}), 409, "already decided", "tab a"),
        (_decide(client, {"window_id": second["id"], "action": "maybe"}), 400, "'maybe'", "accept"),
        (_decide(client, {"window_id": second["id"], "action": "reject", "label": "x"}), 400, "takes no label"),
        (_decide(client, {"window_id": "two", "action": "accept"}), 422, "window_id"),
        (_decide(client, {"window_id": second["id"], "action": "accept", "path": "/etc"}), 422, "path"),
        (
            client.post(
                "/api/review/nights/decisions",
                content=b'{"window_id": 1, "act',
                headers={"content-type": "application/json"},
            ),
            422,
            "json",
        ),
        (client.post("/api/review/elsewhere/decisions", json={"window_id": 1, "action": "accept"}), 404, "elsewhere"),
        (client.post("/api/review/nights/undo", json={"decision_id": 999_999}), 404, "no decision 999999"),
    ]
    for response, status, *words in cases:
        assert_one_line_detail(response, status, *words)
    assert _state(client) == before
    # the same decision again is a retry, not a conflict
    assert _decide(client, {"window_id": first["id"], "action": "accept", "tab": "B"}).status_code == 201
    assert _state(client) == before


def test_a_removed_window_answers_404_and_the_rest_stay(client, reviewing):  # noqa: F811
    gone = reviewing[2]
    assert client.delete(f"/api/review/nights/windows/{gone['id']}").status_code == 200
    assert_one_line_detail(_decide(client, {"window_id": gone["id"], "action": "accept"}), 404, "not in review queue")
    assert_one_line_detail(client.get(gone["picture_url"]), 404, "not in review queue")
    assert [w["id"] for w in client.get("/api/review/nights/windows").json()] == [
        w["id"] for w in reviewing if w["id"] != gone["id"]
    ]


def test_a_window_whose_recording_was_deleted_says_so(client, reviewing, dataset_root):  # noqa: F811
    window = reviewing[3]
    (dataset_root / "nights" / "night0.wav").unlink()
    for url in (window["audio_url"], window["picture_url"]):
        assert_one_line_detail(client.get(url), 410, "is gone", "take window")


def test_files_of_windows_refused_in_one_line(client, reviewing, dataset_root, tmp_path):  # noqa: F811
    before = _state(client)
    night = dataset_root / "nights" / "night0.wav"
    past_end = dataset_root / "past_end.csv"
    past_end.write_text(f"path,start_s,end_s,label,confidence\n{night},9.5,14,synthetic_tone,0.5\n")
    unknown = dataset_root / "unknown.csv"
    unknown.write_text("recording,begin,end\nx,1,2\n")
    raven = dataset_root / "table.txt"
    raven.write_text(
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tBegin File\tSpecies\t"
        "Mood\nnight0.wav\n"
    )
    outside = tmp_path / "outside.csv"
    outside.write_text(past_end.read_text())
    broken = dataset_root / "broken.csv"
    broken.write_bytes(b"\xff\xfe\x00garbage")
    cases = [
        (past_end, 422, "line 2", "past the end"),
        (unknown, 422, "not a `data prelabel` csv"),
        (raven, 422, "unknown column(s) mood"),
        (outside, 403, "outside the folders"),
        (dataset_root / "missing.csv", 403, "does not exist"),
        (broken, 422, "not a utf-8"),
    ]
    for path, status, *words in cases:
        response = client.post("/api/review/nights/import", json={"path": str(path)})
        assert_one_line_detail(response, status, *words)
    assert_one_line_detail(client.post("/api/review/nights/import", json={"path": "relative.csv"}), 403, "absolute")
    assert _state(client) == before
