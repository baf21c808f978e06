"""HTTP API and pages through FastAPI's TestClient: catalogue, datasets, new-run validation, bad input."""

from __future__ import annotations

import io
import zipfile

from tests.web.conftest import WS_BASE, register


def test_catalogue_page_and_json_list_every_registered_model(client):
    from nightscan_edge.models import list_models

    names = {entry.name for entry in list_models()}
    rows = client.get("/api/models").json()
    assert {row["name"] for row in rows} == names
    assert all(
        {"params", "model_size_mb", "int8_size_mb", "flops", "budget_mb", "mobile_compatible"} <= set(row)
        for row in rows
    )
    page = client.get("/").text
    assert all(f'data-model="{name}"' in page for name in names)


def test_register_folder_shows_classes_counts_and_bad_files(client, tiny_audio):
    (tiny_audio / "synthetic_tone" / "broken.wav").write_bytes(b"not audio at all")
    with open(tiny_audio / "manifest.csv", "a") as manifest:
        manifest.write("synthetic_tone/broken.wav,synthetic_tone\n")
    dataset = register(client, tiny_audio)
    summary = dataset["summary"]
    assert summary["kind"] == "audio" and summary["total"] == 12
    assert summary["counts"]["synthetic_tone"] == 3
    assert [bad["path"].endswith("broken.wav") for bad in summary["bad_files"]] == [True]
    page = client.get("/datasets").text
    assert "synthetic_chirp" in page and "broken.wav" in page


def test_bad_dataset_paths_are_refused_and_nothing_is_registered(client, tiny_audio, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    cases = [
        (str(outside), "outside the allowed"),
        ("relative/dir", "must be absolute"),
        (str(tiny_audio.parent / "missing"), "does not exist"),
    ]
    for path, message in cases:
        response = client.post("/api/datasets", json={"path": path})
        assert response.status_code == 400 and message in response.json()["detail"]
    page = client.post("/datasets/register", data={"path": str(outside)})
    assert page.status_code == 400 and "outside the allowed" in page.text
    assert client.get("/api/datasets").json() == []
    register(client, tiny_audio)
    again = client.post("/api/datasets", json={"path": str(tiny_audio)})
    assert again.status_code == 400 and "already registered" in again.json()["detail"]


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_upload_zip_registers_a_dataset(client, tiny_audio, settings):
    members = {f"birds/{p.parent.name}/{p.name}": p.read_bytes() for p in tiny_audio.rglob("*.wav")}
    response = client.post(
        "/api/datasets/upload", files={"file": ("birds.zip", _zip_bytes(members))}, data={"name": "my birds"}
    )
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["name"] == "my birds" and dataset["summary"]["total"] == 12
    assert dataset["path"].startswith(str(settings.uploads_dir.resolve()))


def test_hostile_or_oversized_uploads_change_nothing(client, settings):
    slip = _zip_bytes({"birds/owl/a.wav": b"x", "../../escape.txt": b"x"})
    response = client.post("/api/datasets/upload", files={"file": ("slip.zip", slip)})
    assert response.status_code == 400 and "climbs out" in response.json()["detail"]
    response = client.post("/api/datasets/upload", files={"file": ("notes.zip", b"this is not a zip")})
    assert response.status_code == 400 and "not a valid zip" in response.json()["detail"]
    page = client.post("/datasets/upload", files={"file": ("slip.zip", slip)})
    assert page.status_code == 400 and "climbs out" in page.text
    assert client.get("/api/datasets").json() == []
    assert [p.name for p in settings.uploads_dir.iterdir()] == []
    assert not (settings.data_dir.parent / "escape.txt").exists()


def test_upload_over_the_size_limit_is_refused_before_reading(tmp_path, dataset_root):
    from fastapi.testclient import TestClient

    from nightscan_edge.web import create_app
    from tests.web.conftest import BASE_URL, fake_settings

    settings = fake_settings(tmp_path / "small", max_upload_mb=0.01)
    with TestClient(create_app(settings), base_url=BASE_URL) as small:
        big = _zip_bytes({"set/a/x.wav": bytes(range(256)) * 1000})
        response = small.post("/api/datasets/upload", files={"file": ("big.zip", big)})
        assert response.status_code == 413 and "limit" in response.json()["detail"]
        assert small.get("/api/datasets").json() == []


def test_invalid_run_settings_come_back_per_field_and_create_nothing(client, tiny_audio):
    dataset = register(client, tiny_audio)
    response = client.post(
        "/api/runs",
        json={
            "model": "ultralight_audio",
            "dataset_id": dataset["id"],
            "config": {"train": {"lr": -1, "epochs": "many"}},
        },
    )
    assert response.status_code == 422
    fields = response.json()["detail"]["fields"]
    assert set(fields) == {"train.lr", "train.epochs"}
    response = client.post("/api/runs", json={"model": "no_such_model", "dataset_id": dataset["id"]})
    assert response.status_code == 422 and "unknown model" in response.json()["detail"]["message"]
    response = client.post("/api/runs", json={"model": "ultralight_audio", "dataset_id": "nope"})
    assert response.status_code == 422 and "unknown dataset" in response.json()["detail"]["message"]
    response = client.post(
        "/api/runs", json={"model": "ultralight_audio", "dataset_id": dataset["id"], "overrides": ["train.nonsense=1"]}
    )
    assert response.status_code == 422 and "train.nonsense" in response.json()["detail"]["fields"]
    assert client.get("/api/runs").json() == []


def test_new_run_form_shows_errors_next_to_fields_and_keeps_input(client, tiny_audio):
    dataset = register(client, tiny_audio)
    page = client.get(f"/runs/new?model=ultralight_audio&dataset={dataset['id']}").text
    assert 'name="train.lr" value="0.001"' in page and "Advanced" in page
    response = client.post(
        "/runs/new",
        data={"model": "ultralight_audio", "dataset": dataset["id"], "train.lr": "-0.5", "train.epochs": "2"},
        follow_redirects=False,
    )
    assert response.status_code == 422
    field = response.text.split('data-field="train.lr"', 1)[1].split("</div>", 1)[0]
    assert 'value="-0.5"' in field and "greater than 0" in field
    assert client.get("/api/runs").json() == []


def test_unknown_ids_give_clear_404s(client):
    assert client.get("/api/runs/nope").json()["detail"] == "unknown run 'nope'"
    assert client.post("/api/runs/nope/cancel").status_code == 404
    assert client.get("/runs/nope/files/best.ckpt").status_code == 404
    assert client.get("/api/exports/nope").status_code == 404
    with client.websocket_connect(f"{WS_BASE}/ws/runs/nope") as socket:
        assert socket.receive_json() == {"type": "error", "message": "unknown run 'nope'"}
