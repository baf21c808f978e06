"""Pieces without a server: event tailing, zip checks, root confinement, the config form."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest

from nightscan_edge.web.events import EventTail
from nightscan_edge.web.forms import RunConfigError, form_fields, parse_form, preset_values, validate_run_config
from nightscan_edge.web.settings import Settings
from nightscan_edge.web.uploads import UploadError, extract_zip, resolve_under_roots


def test_event_tail_returns_only_complete_lines_and_resumes_from_index(tmp_path):
    path = tmp_path / "events.jsonl"
    tail = EventTail(path)
    assert tail.poll() == []  # no file yet
    path.write_text(json.dumps({"type": "log", "n": 0}) + "\n" + '{"type": "log", "n"')
    assert [e["n"] for e in tail.poll()] == [0]
    with open(path, "a") as handle:
        handle.write(": 1}\n" + json.dumps({"type": "log", "n": 2}) + "\n")
    assert [(e["seq"], e["n"]) for e in tail.poll()] == [(1, 1), (2, 2)]
    assert [e["n"] for e in EventTail(path, start=2).poll()] == [2]


def _zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize(
    "members, symlink, message",
    [
        ({"birds/owl/a.wav": b"x", "../evil.txt": b"x"}, None, "climbs out"),
        ({"/etc/evil.txt": b"x"}, None, "absolute path"),
        ({"C:/evil.txt": b"x"}, None, "absolute path"),
        ({"birds/owl/a.wav": b"x"}, "birds/link", "symbolic link"),
    ],
)
def test_hostile_zips_are_refused_and_leave_nothing(tmp_path, members, symlink, message):
    archive = _zip(tmp_path / "upload.zip", members, symlink)
    destination = tmp_path / "datasets" / "new"
    with pytest.raises(UploadError, match=message):
        extract_zip(archive, destination, max_unzipped_bytes=10**6)
    assert not destination.exists()
    assert list((tmp_path / "datasets").iterdir()) == []


def test_zip_bomb_guard_uses_declared_and_actual_sizes(tmp_path):
    archive = _zip(tmp_path / "big.zip", {"set/a/x.wav": b"0" * 5000})
    with pytest.raises(UploadError, match="over the"):
        extract_zip(archive, tmp_path / "out", max_unzipped_bytes=1000)


def test_single_top_folder_becomes_the_dataset_root(tmp_path):
    archive = _zip(tmp_path / "ok.zip", {"birds/owl/a.wav": b"x", "birds/bat/b.wav": b"y"})
    root = extract_zip(archive, tmp_path / "out", max_unzipped_bytes=10**6)
    assert root == tmp_path / "out" / "birds"
    assert (root / "owl" / "a.wav").read_bytes() == b"x"


def test_paths_are_confined_to_roots_even_through_symlinks(tmp_path):
    root = tmp_path / "root"
    (root / "inside").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "sneaky").symlink_to(outside)
    assert resolve_under_roots(root / "inside", (root.resolve(),)) == (root / "inside").resolve()
    for bad, message in [
        (outside, "outside the allowed"),
        (root / "sneaky", "outside the allowed"),
        ("relative/path", "must be absolute"),
        (root / "missing", "does not exist"),
    ]:
        with pytest.raises(UploadError, match=message):
            resolve_under_roots(bad, (root.resolve(),))


def test_form_prefills_presets_and_validates_like_the_cli():
    audio = {f.name: f for f in form_fields(preset_values("ultralight_audio"), "audio")}
    assert audio["train.lr"].value == "0.001" and audio["train.optimizer"].value == "adam"
    assert "model.image_size" not in audio and "model.audio.n_mels" in audio
    photo = {f.name: f for f in form_fields(preset_values("mobilenet_v3_small_photo"), "image")}
    assert photo["train.lr"].value == "0.01" and photo["train.optimizer"].value == "sgd"
    values, errors = parse_form(
        {"train.lr": ["-1"], "train.epochs": ["2"], "data.augment": ["false"], "train.teacher": [""]}
    )
    assert errors == {} and values["data"]["augment"] is False and values["train"]["teacher"] is None
    with pytest.raises(RunConfigError) as caught:
        validate_run_config("ultralight_audio", "/data", values)
    assert set(caught.value.fields) == {"train.lr"}
    _, overrides = validate_run_config("ultralight_audio", "/data", {"train": {"epochs": 2}}, ["train.lr=0.01"])
    assert sorted(overrides) == ["train.epochs=2", "train.lr=0.01"]


def test_public_bind_without_token_is_refused(tmp_path):
    with pytest.raises(ValueError, match="pass --token"):
        Settings(data_dir=tmp_path, host="0.0.0.0")
    assert Settings(data_dir=tmp_path, host="0.0.0.0", token="s3cret-token").token == "s3cret-token"


def test_settings_make_the_default_data_dir_absolute_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.data_dir == tmp_path.resolve() / ".nightscan" / "web"
    assert all(root.is_absolute() for root in settings.roots)
    assert Settings(dataset_roots=(Path("relative"),)).dataset_roots == (tmp_path.resolve() / "relative",)
