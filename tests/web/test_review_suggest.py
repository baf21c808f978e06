"""The Review page's suggest endpoint: checks at once, the worker queues the least sure windows, status by job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nightscan_edge.checkpoint import save_standalone_checkpoint
from nightscan_edge.models import create_model
from tests.conftest import write_tone
from tests.predict.conftest import AUDIO_LABELS, TINY_AUDIO_SPEC
from tests.web.conftest import BASE_URL, fake_settings, wait_for

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from nightscan_edge.web import create_app  # noqa: E402
from nightscan_edge.web.suggest_jobs import JOB_FILE, JOBS_DIR, LOG_FILE, RESULT_FILE  # noqa: E402


def add_tiny_run(client: TestClient) -> str:
    """A finished tiny audio run (random weights) recorded in the server's history."""
    torch.manual_seed(0)
    run_dir = client.app.state.settings.runs_dir / "tiny-audio"
    model = create_model("ultralight_audio", len(AUDIO_LABELS), spec=TINY_AUDIO_SPEC).eval()
    save_standalone_checkpoint(run_dir / "best.ckpt", model, AUDIO_LABELS, run_id="tiny-audio")
    client.app.state.store.adopt_run("tiny-audio", "ultralight_audio", "", str(run_dir), "done", 0.0, 0.0)
    return "tiny-audio"


def night(root: Path, files: int = 3) -> Path:
    for index in range(files):
        write_tone(root / "night" / f"n{index}.wav", 400 + 500 * index, 2.5, TINY_AUDIO_SPEC.sample_rate, seed=index)
    return root / "night"


def test_bad_requests_are_refused_at_once(client, dataset_root, tmp_path) -> None:
    run_id = add_tiny_run(client)
    review = client.app.state.review
    review.create_queue("owls", AUDIO_LABELS, "audio")
    review.create_queue("frogs", ["frog"], "audio")
    (dataset_root / "empty").mkdir()
    recordings = str(night(dataset_root))
    outside = night(tmp_path / "elsewhere")
    cases = [
        ("nope", {"run_id": run_id, "recordings": recordings}, 404, "no review queue 'nope'"),
        ("owls", {"run_id": "gone", "recordings": recordings}, 404, "unknown run 'gone'"),
        ("owls", {"run_id": run_id, "recordings": str(outside)}, 403, "--dataset-root"),
        ("owls", {"run_id": run_id, "recordings": str(dataset_root / "empty")}, 422, "holds no recordings"),
        ("frogs", {"run_id": run_id, "recordings": recordings}, 422, "proposes labels queue frogs does not have"),
        ("owls", {"run_id": run_id, "recordings": recordings, "n": 0}, 422, "n:"),
    ]
    for queue, body, status, words in cases:
        answer = client.post(f"/api/review/{queue}/suggest", json=body)
        assert answer.status_code == status, (body, answer.text)
        assert words in answer.json()["detail"], answer.text
    assert review.windows("owls") == [] and not (client.app.state.settings.data_dir / JOBS_DIR).exists()
    page = client.get("/review/owls").text
    assert 'id="suggest-form"' in page and "/static/review_suggest.js" in page
    assert client.get("/static/review_suggest.js").status_code == 200
    assert client.get("/api/review/owls/suggest/abc123").status_code == 404
    assert client.get("/api/review/owls/suggest/..%2F..%2Fetc").status_code == 404


def test_job_status_reads_the_job_folder(client) -> None:
    data_dir = client.app.state.settings.data_dir
    finished = subprocess.run([sys.executable, "-c", "pass"], check=True)  # a PID that is gone
    assert finished.returncode == 0
    for job_id, files in {
        "done1": {RESULT_FILE: json.dumps({"queue": "owls", "added": 5, "summary": ["queued 5 window(s)"]})},
        "failed1": {LOG_FILE: "usage...\nerror: run x has no best.ckpt or last.ckpt; is it a finished run folder?\n"},
    }.items():
        folder = data_dir / JOBS_DIR / job_id
        folder.mkdir(parents=True)
        (folder / JOB_FILE).write_text(json.dumps({"job": job_id, "queue": "owls", "pid": 2**22 + 7}))
        for name, text in files.items():
            (folder / name).write_text(text)
    done = client.get("/api/review/owls/suggest/done1").json()
    assert (done["status"], done["added"]) == ("done", 5)
    failed = client.get("/api/review/owls/suggest/failed1").json()
    assert failed["status"] == "failed" and failed["error"].startswith("run x has no best.ckpt")
    assert client.get("/api/review/other/suggest/done1").status_code == 404


@pytest.mark.slow
def test_the_worker_queues_the_least_sure_windows(tmp_path, dataset_root) -> None:
    settings = fake_settings(tmp_path / "data", worker_command=())  # the real CLI as the worker
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        run_id = add_tiny_run(client)
        client.app.state.review.create_queue("owls", AUDIO_LABELS, "audio")
        body = {"run_id": run_id, "recordings": str(night(dataset_root)), "n": 5}
        started = client.post("/api/review/owls/suggest", json=body)
        assert started.status_code == 202, started.text
        status = wait_for(client, started.json()["status_url"], lambda s: s["status"] != "running", timeout=240)
        assert status["status"] == "done" and status["added"] == 5, status
        windows = client.get("/api/review/owls/windows").json()
        assert len(windows) == 5 and {w["source"] for w in windows} == {"suggest"}
