"""The Review API and pages: a queue for a registered data set, windows imported from a prelabel CSV, decisions
from two tabs, undo, media of a window, a new data set version registered for training, and a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from nightscan_edge.data import write_synthetic_dataset
from nightscan_edge.data.sources import list_dataset
from tests.web.conftest import BASE_URL, client, dataset_root, register, settings, tiny_audio  # noqa: F401
from tests.web.review_inputs import write_prelabel_csv

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from nightscan_edge.web import create_app  # noqa: E402


def open_queue(client: TestClient, tiny_audio: Path, dataset_root: Path, windows: int = 4) -> dict:  # noqa: F811
    dataset = register(client, tiny_audio)
    queue = client.post("/api/review", json={"dataset_id": dataset["id"], "name": "nights"})
    assert queue.status_code == 201, queue.text
    csv_path = write_prelabel_csv(dataset_root, windows)
    imported = client.post("/api/review/nights/import", json={"path": str(csv_path)})
    assert imported.status_code == 201, imported.text
    return {"dataset": dataset, **imported.json()}


def test_review_a_queue_and_train_on_the_new_version(client, tiny_audio, dataset_root):  # noqa: F811
    queue = open_queue(client, tiny_audio, dataset_root)
    assert (queue["added"], queue["pending"], queue["labels"][-1]) == (4, 4, "background")
    windows = client.get("/api/review/nights/windows").json()
    first, second, third, fourth = windows
    answer = client.post(
        "/api/review/nights/decisions", json={"window_id": first["id"], "action": "accept", "tab": "A"}
    )
    assert answer.status_code == 201 and answer.json()["decision"]["label"] == first["label"]
    relabel = {"window_id": second["id"], "action": "relabel", "label": "synthetic_noise_band", "tab": "A"}
    assert client.post("/api/review/nights/decisions", json=relabel).status_code == 201
    background = {"window_id": third["id"], "action": "background", "tab": "A"}
    assert client.post("/api/review/nights/decisions", json=background).status_code == 201
    reject = {"window_id": fourth["id"], "action": "reject", "tab": "B"}
    assert client.post("/api/review/nights/decisions", json=reject).status_code == 201
    undone = client.post("/api/review/nights/undo", json={"tab": "B"}).json()
    assert undone["id"] == fourth["id"] and undone["decision"] is None
    assert client.get("/api/review/nights").json()["pending"] == 1

    audio = client.get(first["audio_url"])
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    picture = client.get(first["picture_url"])
    assert picture.status_code == 200 and picture.content[:8] == b"\x89PNG\r\n\x1a\n"

    version = client.post("/api/review/nights/versions")
    assert version.status_code == 201, version.text
    dataset = version.json()
    assert dataset["source"] == "review" and dataset["name"] == "nights v1"
    counts = list_dataset(dataset["path"]).counts()
    assert counts["background"] == 1 and sum(counts.values()) == 12 + 3  # the 12 original files and 3 clips
    assert client.get(f"/datasets/{dataset['id']}").status_code == 200  # on the data page
    page = client.get("/review/nights", headers={"accept": "text/html"})
    assert page.status_code == 200 and "nights-v1" in page.text and 'data-label="background"' in page.text
    assert "nights" in client.get("/review", headers={"accept": "text/html"}).text


def test_decisions_survive_a_server_restart(settings, tiny_audio, dataset_root):  # noqa: F811
    with TestClient(create_app(settings), base_url=BASE_URL) as first_server:
        open_queue(first_server, tiny_audio, dataset_root)
        window = first_server.get("/api/review/nights/windows").json()[1]
        first_server.post("/api/review/nights/decisions", json={"window_id": window["id"], "action": "reject"})
    with TestClient(create_app(settings), base_url=BASE_URL) as second_server:
        windows = second_server.get("/api/review/nights/windows").json()
        assert [w["decision"]["action"] if w["decision"] else None for w in windows] == [None, "reject", None, None]
        pending = second_server.get("/api/review/nights/windows", params={"pending": True}).json()
        assert [w["id"] for w in pending] == [windows[0]["id"], windows[2]["id"], windows[3]["id"]]


def test_a_photo_queue_shows_each_photo(client, dataset_root):  # noqa: F811
    photos = write_synthetic_dataset(dataset_root / "trail", kind="photo", per_class=3, image_size=32)
    dataset = register(client, photos)
    assert client.post("/api/review", json={"dataset_id": dataset["id"], "name": "trail"}).json()["kind"] == "image"
    shots = sorted((photos / "synthetic_circle").glob("*.png"))
    detections = dataset_root / "detections.csv"
    detections.write_text(
        "file,start_s,end_s,label,confidence,source,top_k,fallback_failed,error\n"
        + "".join(f"{shot},,,synthetic_square,0.4000,edge,,,\n" for shot in shots)
    )
    assert client.post("/api/review/trail/import", json={"path": str(detections)}).json()["added"] == len(shots)
    window = client.get("/api/review/trail/windows").json()[0]
    assert window["audio_url"] is None and window["end_s"] is None
    photo = client.get(window["picture_url"])
    assert photo.status_code == 200 and photo.content == shots[0].read_bytes()
    relabel = {"window_id": window["id"], "action": "relabel", "label": "synthetic_circle"}
    assert client.post("/api/review/trail/decisions", json=relabel).status_code == 201
    version = client.post("/api/review/trail/versions").json()
    assert list_dataset(version["path"]).counts()["synthetic_circle"] == 4
