"""Web fixtures: an app on a temporary data dir whose workers are the fast fake worker, and tiny datasets."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from nightscan_edge.web import Settings, create_app  # noqa: E402

FAKE_WORKER = Path(__file__).with_name("fake_worker.py")
BASE_URL = "http://127.0.0.1:5002"
WS_BASE = "ws://127.0.0.1:5002"


def fake_settings(data_dir: Path, **overrides) -> Settings:
    values = dict(
        data_dir=data_dir,
        worker_command=(sys.executable, str(FAKE_WORKER)),
        poll_seconds=0.05,
        job_poll_seconds=0.05,
        dataset_roots=(data_dir.parent / "roots",),
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def dataset_root(tmp_path: Path) -> Path:
    root = tmp_path / "roots"
    root.mkdir()
    return root


@pytest.fixture
def tiny_audio(dataset_root: Path) -> Path:
    """Four synthetic classes x 3 short clips: enough for inspection and the fake worker."""
    from nightscan_edge.data import write_synthetic_dataset

    return write_synthetic_dataset(dataset_root / "tiny-audio", kind="audio", per_class=3, sample_rate=8000)


@pytest.fixture
def settings(tmp_path: Path, dataset_root: Path) -> Settings:
    return fake_settings(tmp_path / "data")


@pytest.fixture
def client(settings: Settings):
    with TestClient(create_app(settings), base_url=BASE_URL) as test_client:
        yield test_client


def wait_for(client: TestClient, url: str, predicate, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(url).json()
        if predicate(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting on {url}: {body}")
        time.sleep(0.05)


def register(client: TestClient, path: Path) -> dict:
    response = client.post("/api/datasets", json={"path": str(path)})
    assert response.status_code == 201, response.text
    return response.json()
