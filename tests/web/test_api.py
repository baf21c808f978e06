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
    assert 'name="train.lr" value="0.001"' in page and "More training options" in page
    assert "Learning rate" in page and "(Hz)" in page  # human labels and units from the schema
    assert 'name="export.' not in page and 'name="bench.' not in page  # export/bench options are not training
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


def test_api_docs_load_swagger_ui_from_this_server_only(client):
    page = client.get("/api/docs", headers={"accept": "text/html"}).text
    assert "cdn" not in page and "https://" not in page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        assert f"/static/vendor/swagger-ui/{asset}" in page
        assert client.get(f"/static/vendor/swagger-ui/{asset}").status_code == 200


def test_dataset_page_lists_files_plays_them_and_draws_their_spectrograms(client, tiny_audio):
    from tests.web.conftest import register

    dataset = register(client, tiny_audio)
    page = client.get(f"/datasets/{dataset['id']}").text
    first = dataset["summary"]["files"][0]
    assert first["ok"] and first["sample_rate"] == 8000 and first["path"] in page
    audio = client.get(f"/datasets/{dataset['id']}/media/{first['path']}")
    assert audio.status_code == 200 and len(audio.content) > 1000
    picture = client.get(f"/datasets/{dataset['id']}/spectrogram/{first['path']}")
    assert picture.status_code == 200 and picture.content[:8] == b"\x89PNG\r\n\x1a\n"
    # only files inspection listed are served: nothing else under (or above) the root
    assert client.get(f"/datasets/{dataset['id']}/media/../../data/nightscan.sqlite3").status_code == 404
    assert client.get(f"/datasets/{dataset['id']}/media/manifest.csv").status_code == 404


def test_rename_and_delete_a_dataset_keeping_a_registered_folder_on_disk(client, tiny_audio):
    from tests.web.conftest import register

    dataset = register(client, tiny_audio)
    assert client.patch(f"/api/datasets/{dataset['id']}", json={"name": "owls 2026"}).json()["name"] == "owls 2026"
    assert client.patch(f"/api/datasets/{dataset['id']}", json={"name": " "}).status_code == 422
    deleted = client.delete(f"/api/datasets/{dataset['id']}").json()
    assert deleted["removed_files"] is None and tiny_audio.is_dir()  # the user's own folder stays
    assert client.get(f"/api/datasets/{dataset['id']}").status_code == 404


def test_deleting_an_upload_removes_its_files(client, tmp_path, tiny_audio):
    import shutil

    archive = shutil.make_archive(str(tmp_path / "sounds"), "zip", root_dir=tiny_audio.parent, base_dir=tiny_audio.name)
    with open(archive, "rb") as handle:
        uploaded = client.post("/api/datasets/upload", files={"file": ("sounds.zip", handle, "application/zip")}).json()
    from pathlib import Path

    folder = Path(uploaded["path"])
    assert folder.is_dir()
    assert client.delete(f"/api/datasets/{uploaded['id']}").json()["removed_files"]
    assert not folder.exists()


def test_run_form_offers_only_datasets_the_model_can_read(client, tiny_audio, dataset_root):
    from nightscan_edge.data import write_synthetic_dataset

    audio = register(client, tiny_audio)
    photos = register(
        client, write_synthetic_dataset(dataset_root / "shapes", kind="photo", per_class=3, image_size=32)
    )
    page = client.get("/runs/new?model=ultralight_audio").text
    assert audio["id"] in page and photos["id"] not in page and "1 dataset(s) of another kind hidden" in page
    chosen = client.get(f"/runs/new?dataset={photos['id']}").text  # "Train on this" picks a photo model
    assert 'value="mobilenet_v3_small_photo" selected' in chosen
    refused = client.post("/api/runs", json={"model": "ultralight_audio", "dataset_id": photos["id"]})
    assert refused.status_code == 422 and "takes recordings but dataset" in refused.json()["detail"]["message"]


def test_cli_runs_in_the_data_dir_join_the_history_and_compare_with_others(client, settings):
    """A run trained with ``nightscan-edge train --run-dir <data dir>/runs/...`` shows up; one still training
    does not (until its status.json says it ended)."""
    import json

    def cli_run(name: str, status: str, accuracies: list[float]):
        folder = settings.runs_dir / name
        folder.mkdir(parents=True)
        (folder / "config.yaml").write_text("model:\n  name: ultralight_audio\ndata:\n  path: /data/night\n")
        (folder / "status.json").write_text(json.dumps({"status": status}))
        rows = ["epoch,train_loss,train_acc,val_loss,val_acc,val_macro_f1,lr,seconds"]
        rows += [f"{i},1.0,0.5,{1.0 - a / 2},{a},0.5,0.001,2.0" for i, a in enumerate(accuracies, 1)]
        (folder / "metrics.csv").write_text("\n".join(rows) + "\n")

    cli_run("cli-done", "done", [0.5, 0.75])
    cli_run("cli-cancelled", "cancelled", [0.4])
    cli_run("cli-busy", "running", [0.3])
    runs = {r["id"]: r for r in client.get("/api/runs").json()}
    assert runs["cli-done"]["status"] == "done" and runs["cli-done"]["data_path"] == "/data/night"
    assert "cli-cancelled" in runs and "cli-busy" not in runs
    assert "CLI" in client.get("/runs").text
    figures = client.get("/api/runs/compare/figures?ids=cli-done,cli-cancelled").json()
    assert [(f["id"], f["epochs"], f["best_epoch"]) for f in figures] == [("cli-done", 2, 2), ("cli-cancelled", 1, 1)]
    page = client.get("/runs/compare?ids=cli-done&ids=cli-cancelled").text
    assert 'id="compare-acc"' in page and "cli-cancelled" in page


def test_try_it_shows_windows_labels_and_what_goes_to_the_server(client, tiny_audio, monkeypatch):
    """The export's model (here a classifier over the real window/score/spectrogram code whose scores
    alternate between sure and unsure) on a dataset file: windows, labels, and the ones sent to the server."""
    import numpy as np

    from nightscan_edge.predict.classifier import Classifier
    from nightscan_edge.spec import AudioSpec
    from nightscan_edge.web.routers import try_it
    from tests.web.conftest import wait_for
    from tests.web.test_jobs import FINAL, _start

    spec = AudioSpec(sample_rate=8000, clip_samples=4096, n_fft=256, hop_length=128, n_mels=32)

    def scores(windows: np.ndarray) -> np.ndarray:
        sure, unsure = [0.05, 0.95], [0.4, 0.6]
        return np.array([sure if i % 2 == 0 else unsure for i in range(len(windows))], dtype=np.float32)

    classifier = Classifier(name="tiny", run_id="r", labels=["bat", "owl"], spec=spec, predict_batch=scores)
    monkeypatch.setattr(try_it, "load_edge_classifier", lambda artifact: classifier)
    dataset = register(client, tiny_audio)
    run = _start(client, dataset, epochs=1)
    wait_for(client, f"/api/runs/{run['id']}", lambda r: r["status"] == "done")
    export = client.post(f"/api/runs/{run['id']}/exports", json={"formats": ["onnx"]}).json()
    wait_for(client, f"/api/exports/{export['id']}", lambda e: e["status"] in FINAL)
    assert export["id"] in client.get("/try").text
    longest = max((f for f in dataset["summary"]["files"] if f["ok"]), key=lambda f: f["duration_s"])
    page = client.post(
        "/try", data={"export": export["id"], "threshold": "0.8", "dataset_file": f"{dataset['id']}::{longest['path']}"}
    ).text
    assert 'id="try-timeline"' in page and "data:image/png;base64," in page
    assert page.count('class="server"') >= 1 and page.count('class="edge"') >= 1
    assert "sent to the server at threshold 0.80" in page and "second opinion" in page
    refused = client.post("/try", data={"export": export["id"], "threshold": "2"})
    assert refused.status_code == 422 and "between 0 and 1" in refused.text


def test_run_form_offers_the_recipes_that_fit_the_model(client, dataset_root):
    from nightscan_edge.data import write_synthetic_dataset

    photos = register(
        client, write_synthetic_dataset(dataset_root / "shapes", kind="photo", per_class=3, image_size=32)
    )
    plain = client.get(f"/runs/new?model=efficientnet_lite0_photo&dataset={photos['id']}").text
    assert 'value="pretrained-photos"' in plain and 'value="small-photos"' in plain  # both fit a photo model
    assert client.get("/runs/new?model=lightweight_audio").text.count('id="recipe"') == 0  # none names it
    small = client.get("/runs/new?model=ultralight_audio&recipe=few-clips-new-species-small").text
    assert 'value="few-clips-new-species-small" selected' in small and 'value="few-clips-new-species"' not in small
    assert 'data-diff="train.embedding_teacher"' in small  # the recipe's BirdNET embedding, marked as changed
    head_page = client.get("/runs/new?model=birdnet_head&recipe=few-clips-new-species").text
    assert 'value="few-clips-new-species" selected' in head_page and "phone file" in head_page
    page = client.get(f"/runs/new?model=efficientnet_lite0_photo&dataset={photos['id']}&recipe=pretrained-photos").text
    assert 'value="pretrained-photos" selected' in page and "fine-tun" in page.split('id="recipe-description"')[1]
    assert 'name="train.freeze_backbone_epochs" value="1"' in page and 'data-diff="train.backbone_lr_scale"' in page
    form = {"model": "efficientnet_lite0_photo", "dataset": photos["id"], "recipe": "pretrained-photos"}
    form.update({"train.freeze_backbone_epochs": "1", "train.backbone_lr_scale": "0.33", "train.epochs": "6"})
    response = client.post("/runs/new", data=form, follow_redirects=False)
    assert response.status_code == 303
    (run,) = client.get("/api/runs").json()
    assert {"train.freeze_backbone_epochs=1", "train.backbone_lr_scale=0.33"} <= set(run["overrides"])
