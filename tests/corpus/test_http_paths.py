"""Paths that arrive through the web API are confined (``nightscan_edge.paths``): each request-supplied path
field outside the allowed folders is refused with one line, and nothing is registered or queued."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.corpus.conftest import assert_one_line_detail, tree_hash
from tests.web.conftest import client, dataset_root, register, settings, tiny_audio  # noqa: F401 (fixtures)


def _state(settings):  # noqa: F811
    return tree_hash(settings.runs_dir, settings.uploads_dir)


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "secret.wav").write_bytes(b"RIFF")
    return folder


@pytest.mark.parametrize(
    "field",
    [
        "data.cache_dir",
        "model.init_from",
        "train.teacher",
        "model.weights",
        "data.audio_augment.noise_dir",
        "train.unlabeled",
        "train.embedding_audio",
    ],
)
@pytest.mark.parametrize("where", ["outside", "relative", "dotdot"])
def test_run_config_path_fields_are_confined(field, where, client, settings, tiny_audio, outside):  # noqa: F811
    dataset = register(client, tiny_audio)
    value = {
        "outside": str(outside),
        "relative": "some/where",
        "dotdot": str(settings.runs_dir / ".." / ".." / outside.name),
    }[where]
    section, *rest = field.split(".")
    nested: dict | str | list = [value] if field == "train.embedding_audio" else value  # a list of folders
    for part in reversed(rest):
        nested = {part: nested}
    before = _state(settings)
    response = client.post(
        "/api/runs", json={"model": "ultralight_audio", "dataset_id": dataset["id"], "config": {section: nested}}
    )
    assert_one_line_detail(response, 422, field)
    assert client.get("/api/runs").json() == []
    assert _state(settings) == before


@pytest.mark.parametrize("via", ["config", "overrides"])
def test_cache_dir_inside_the_data_dir_is_accepted(via, client, settings, tiny_audio):  # noqa: F811
    dataset = register(client, tiny_audio)
    inside = str(settings.data_dir / "cache")
    body = {"model": "ultralight_audio", "dataset_id": dataset["id"]}
    body.update(
        {"config": {"data": {"cache": "disk", "cache_dir": inside}}}
        if via == "config"
        else {"overrides": ["data.cache=disk", f"data.cache_dir={inside}"]}
    )
    response = client.post("/api/runs", json=body)
    assert response.status_code == 201, response.text
    assert f"data.cache_dir={inside!r}".replace("'", '"') in response.json()["overrides"]


def test_manifest_with_an_absolute_path_outside_the_roots_is_refused(client, settings, dataset_root, outside):  # noqa: F811
    folder = dataset_root / "sneaky"
    folder.mkdir()
    (folder / "manifest.csv").write_text(f"path,label\n{outside / 'secret.wav'},owl\n")
    before = tree_hash(folder, settings.uploads_dir)
    response = client.post("/api/datasets", json={"path": str(folder)})
    assert_one_line_detail(response, 400, "outside the allowed folders", "secret.wav")
    assert client.get("/api/datasets").json() == []
    assert tree_hash(folder, settings.uploads_dir) == before


def test_symlinked_file_pointing_outside_is_refused(client, tiny_audio, dataset_root, outside):  # noqa: F811
    tree = dataset_root / "tree"
    for wav in sorted(tiny_audio.rglob("*.wav")):
        (tree / wav.parent.name).mkdir(parents=True, exist_ok=True)
        (tree / wav.parent.name / wav.name).write_bytes(wav.read_bytes())
    (tree / wav.parent.name / "link.wav").symlink_to(outside / "secret.wav")
    response = client.post("/api/datasets", json={"path": str(tree)})
    assert_one_line_detail(response, 400, "outside the allowed folders", "link.wav")


@pytest.mark.parametrize("row", ["/etc/passwd.wav", "../../../../outside.wav"])
def test_uploaded_manifest_is_confined_to_its_own_folder(row, client, settings):  # noqa: F811
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("set/manifest.csv", f"path,label\n{row},owl\na.wav,bat\n")
        archive.writestr("set/a.wav", b"RIFF")
    before = _state(settings)
    response = client.post("/api/datasets/upload", files={"file": ("set.zip", buffer.getvalue())})
    assert_one_line_detail(response, 400, "outside the allowed folders")
    assert client.get("/api/datasets").json() == []
    assert _state(settings) == before


def test_dataset_registered_then_edited_to_point_outside_is_refused_at_run_time(client, tiny_audio, outside):  # noqa: F811
    dataset = register(client, tiny_audio)
    rows = [f"{p.relative_to(tiny_audio)},{p.parent.name}" for p in sorted(tiny_audio.rglob("*.wav"))]
    (tiny_audio / "manifest.csv").write_text("path,label\n" + "\n".join(rows) + f"\n{outside / 'secret.wav'},owl\n")
    response = client.post("/api/runs", json={"model": "ultralight_audio", "dataset_id": dataset["id"]})
    assert_one_line_detail(response, 422, "outside the allowed folders")


@pytest.mark.parametrize("body", [{"formats": ["onnx"], "out_dir": "/tmp/x"}, {"formats": "onnx/../../x"}])
def test_export_request_cannot_name_a_path(body, client):  # noqa: F811
    response = client.post("/api/runs/nope/exports", json=body)
    assert response.status_code in (404, 422)
    assert_one_line_detail(response, response.status_code)
