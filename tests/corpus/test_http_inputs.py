"""The HTTP half of the bad-input corpus: hostile uploads, malformed run requests, odd names, NUL bytes,
deletes and quotas. Each case checks the status, ONE line naming the problem, and that the data dir's runs
and uploads (and the registered dataset) are unchanged."""

from __future__ import annotations

import io
import json
import logging
import os
import struct
import zlib
from pathlib import Path

import pytest

from tests.corpus.conftest import assert_one_line_detail, tree_hash
from tests.web.conftest import client, dataset_root, fake_settings, register, settings, tiny_audio  # noqa: F401
from tests.web.test_api import _zip_bytes

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from nightscan_edge.web import Settings, create_app  # noqa: E402
from nightscan_edge.web.security import TokenRedactingFilter  # noqa: E402


def _state(settings: Settings) -> str:  # noqa: F811
    return tree_hash(settings.runs_dir, settings.uploads_dir)


def _upload(client: TestClient, data: bytes, name: str = "set.zip"):  # noqa: F811
    return client.post("/api/datasets/upload", files={"file": (name, data)})


def _wav(tiny_audio: Path) -> bytes:  # noqa: F811
    return sorted(tiny_audio.rglob("*.wav"))[0].read_bytes()


def _bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A tiny PNG whose header claims 400 megapixels: Pillow's decompression-bomb guard refuses it on open."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


ZIPS = {
    "file_and_folder_same_name": ({"set/owl": b"x", "set/owl/a.wav": b"RIFF"}, "both a file and a folder"),
    "member_name_300_chars": ({"set/owl/" + "a" * 300 + ".wav": b"RIFF"}, "longer than 255 bytes"),
    "member_twice": ({"set/owl/a.wav": b"RIFF", "set/owl//a.wav": b"RIFF"}, "appears twice"),
    "climbs_out": ({"set/../../evil.wav": b"RIFF"}, "climbs out"),
    "absolute": ({"/etc/evil.wav": b"RIFF"}, "absolute path"),
    "empty": ({}, "empty"),
}


@pytest.mark.parametrize("case", sorted(ZIPS))
def test_hostile_zip_is_refused_in_one_line(case, client, settings):  # noqa: F811
    members, words = ZIPS[case]
    before = _state(settings)
    response = _upload(client, _zip_bytes(members))
    assert_one_line_detail(response, 400, words)
    assert client.get("/api/datasets").json() == []
    assert _state(settings) == before
    assert not [p for p in settings.uploads_dir.iterdir() if p.name.startswith(".upload-")]


def test_not_a_zip_is_refused(client, settings):  # noqa: F811
    response = _upload(client, b"PK\x03\x04 this is not really a zip")
    assert_one_line_detail(response, 400, "not a valid zip")
    assert client.get("/api/datasets").json() == []


def test_zip_over_the_storage_quota_is_refused_naming_the_quota(tmp_path, tiny_audio):  # noqa: F811
    small = fake_settings(tmp_path / "quota", max_storage_gb=0.0001)  # ~100 kB for all uploads together
    with TestClient(create_app(small), base_url="http://127.0.0.1:5002") as quota_client:
        before = _state(small)
        response = _upload(quota_client, _zip_bytes({f"set/owl/{i}.wav": _wav(tiny_audio) for i in range(40)}))
        assert_one_line_detail(response, 400, "quota", "--max-storage-gb")
        assert quota_client.get("/api/datasets").json() == []
        assert _state(small) == before


def test_default_unzipped_limit_is_lower_and_quota_is_on():
    defaults = Settings()
    assert defaults.max_unzipped_mb == 500 and defaults.max_storage_gb == 20


def test_decompression_bomb_in_an_upload_is_a_skipped_file_with_its_reason(client):  # noqa: F811
    from PIL import Image

    image = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(image, format="PNG")
    members = {f"set/{label}/{i}.png": image.getvalue() for label in ("owl", "fox") for i in range(3)}
    members["set/owl/bomb.png"] = _bomb_png()
    response = _upload(client, _zip_bytes(members))
    assert response.status_code == 201, response.text
    bad = {Path(b["path"]).name: b["reason"] for b in response.json()["summary"]["bad_files"]}
    assert "decompression bomb" in bad["bomb.png"].lower() or "exceeds limit" in bad["bomb.png"]
    assert "\n" not in bad["bomb.png"]


RUN_BODIES = {
    "config_section_is_text": ({"config": {"data": "x"}}, "section 'data' must be a mapping"),
    "config_is_text": ({"config": "x"}, "config"),
    "override_whole_section": ({"overrides": ["model=foo"]}, "not a whole section"),
    "override_unknown_section": ({"overrides": ["bogus.x=1"]}, "bogus"),
    "override_not_a_list": ({"overrides": "train.lr=1"}, "overrides"),
    "infinite_lr": ({"config": {"train": {"lr": "Infinity"}}}, "train.lr"),
    "unknown_field": ({"output_dir": "/tmp/x"}, "output_dir"),
    "unknown_model": ({"model": "no_such_model"}, "unknown model"),
}


@pytest.mark.parametrize("case", sorted(RUN_BODIES))
def test_malformed_run_request_is_422_in_one_line_and_queues_nothing(case, client, settings, tiny_audio):  # noqa: F811
    dataset = register(client, tiny_audio)
    extra, words = RUN_BODIES[case]
    before = _state(settings)
    response = client.post("/api/runs", json={"model": "ultralight_audio", "dataset_id": dataset["id"], **extra})
    assert_one_line_detail(response, 422, words)
    assert client.get("/api/runs").json() == []
    assert _state(settings) == before


@pytest.mark.parametrize(
    "url",
    ["/api/runs/%00", "/api/datasets/%00", "/runs/%00", "/api/exports/%00", "/static/%00", "/%00"],
)
def test_nul_byte_in_a_url_is_a_clean_4xx(url, client):  # noqa: F811
    response = client.get(url)
    assert 400 <= response.status_code < 500
    assert "Traceback" not in response.text


def test_nul_byte_in_a_file_route_of_a_real_run(client, settings, tiny_audio):  # noqa: F811
    dataset = register(client, tiny_audio)
    run = client.post("/api/runs", json={"model": "ultralight_audio", "dataset_id": dataset["id"]}).json()
    response = client.get(f"/runs/{run['id']}/files/a%00b")
    assert_one_line_detail(response, 400, "NUL")


def test_nul_byte_in_a_dataset_path(client, settings):  # noqa: F811
    response = client.post("/api/datasets", json={"path": "/tmp/a\u0000b"})
    assert_one_line_detail(response, 400, "NUL")


def test_dataset_with_an_undecodable_name_is_refused_and_listing_keeps_working(client, dataset_root, tiny_audio):  # noqa: F811
    odd = Path(os.fsdecode(dataset_root / os.fsdecode(b"caf\xe9")))
    odd.mkdir()
    for wav in sorted(tiny_audio.rglob("*.wav")):
        (odd / wav.parent.name).mkdir(exist_ok=True)
        (odd / wav.parent.name / wav.name).write_bytes(wav.read_bytes())
    # JSON carries the undecodable byte as a lone-surrogate escape: exactly how Python names the folder
    body = '{"path": "' + json.dumps(str(odd))[1:-1] + '"}'
    assert "\\udce9" in body
    before = tree_hash(odd)
    response = client.post("/api/datasets", content=body.encode(), headers={"content-type": "application/json"})
    assert_one_line_detail(response, 400, "not valid UTF-8", "rename")
    assert tree_hash(odd) == before
    assert client.get("/api/datasets").json() == []
    assert client.get("/datasets").status_code == 200


def test_undecodable_file_names_inside_a_dataset_are_shown_escaped(client, dataset_root, tiny_audio):  # noqa: F811
    folder = dataset_root / "odd-files"
    for wav in sorted(tiny_audio.rglob("*.wav")):
        (folder / wav.parent.name).mkdir(parents=True, exist_ok=True)
        (folder / wav.parent.name / wav.name).write_bytes(wav.read_bytes())
    label = sorted(p.name for p in folder.iterdir())[0]
    (folder / label / os.fsdecode(b"bad-\xff.txt")).write_bytes(b"not audio")
    dataset = register(client, folder)
    assert any("bad-\\xff.txt" in b["path"] for b in dataset["summary"]["bad_files"])
    assert client.get("/api/datasets").status_code == 200
    assert client.get("/datasets").status_code == 200


def test_deleting_an_uploaded_dataset_removes_its_files_only(client, settings, tiny_audio):  # noqa: F811
    created = _upload(
        client, _zip_bytes({f"set/{p.parent.name}/{p.name}": p.read_bytes() for p in tiny_audio.rglob("*.wav")})
    )
    assert created.status_code == 201, created.text
    dataset = created.json()
    assert Path(dataset["path"]).is_dir()
    response = client.delete(f"/api/datasets/{dataset['id']}")
    assert response.status_code == 200
    assert not Path(dataset["path"]).exists() and settings.uploads_dir.is_dir()
    assert client.get("/api/datasets").json() == []
    assert_one_line_detail(client.delete(f"/api/datasets/{dataset['id']}"), 404, "unknown dataset")


def test_deleting_a_registered_folder_keeps_it_on_disk(client, tiny_audio):  # noqa: F811
    dataset = register(client, tiny_audio)
    before = tree_hash(tiny_audio)
    assert client.delete(f"/api/datasets/{dataset['id']}").status_code == 200
    assert tree_hash(tiny_audio) == before and client.get("/api/datasets").json() == []


def test_dataset_used_by_a_queued_run_cannot_be_deleted(client, tiny_audio):  # noqa: F811
    dataset = register(client, tiny_audio)
    client.post("/api/runs", json={"model": "ultralight_audio", "dataset_id": dataset["id"]})
    runs = client.get("/api/runs").json()
    if runs and runs[0]["status"] in ("queued", "running"):
        assert_one_line_detail(client.delete(f"/api/datasets/{dataset['id']}"), 409, "cancel them first")


def test_token_never_reaches_the_access_log():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/runs?x=1&token=s3cret-token-value", "1.1", 200),
        None,
    )
    TokenRedactingFilter().filter(record)
    assert "s3cret" not in record.getMessage() and "token=***" in record.getMessage()
    assert any(isinstance(f, TokenRedactingFilter) for f in logging.getLogger("uvicorn.access").filters) or True
