"""Worker jobs end to end with the fast fake worker: run, stream, cancel, resume, export, restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from fastapi.testclient import TestClient

from nightscan_edge.web import create_app
from tests.web.conftest import BASE_URL, WS_BASE, register, wait_for

FINAL = ("done", "failed", "cancelled", "interrupted")


def _start(client, dataset, epochs=2, **config):
    body = {"model": "ultralight_audio", "dataset_id": dataset["id"], "config": {"train": {"epochs": epochs, **config}}}
    response = client.post("/api/runs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _events(client, run_id, start=0):
    events = []
    with client.websocket_connect(f"{WS_BASE}/ws/runs/{run_id}?from={start}") as socket:
        while True:
            message = socket.receive_json()
            events.append(message)
            if (
                message.get("type") == "status"
                and message["status"] in FINAL
                and any(e.get("type") == "run_end" for e in events)
            ):
                return events


def test_run_streams_every_event_then_finishes_with_report_and_downloads(client, tiny_audio):
    dataset = register(client, tiny_audio)
    run = _start(client, dataset, epochs=2)
    assert run["status"] == "queued" and "train.epochs=2" in run["overrides"]
    events = _events(client, run["id"])
    logged = [e for e in events if "seq" in e]
    assert [e["seq"] for e in logged] == list(range(len(logged)))
    assert [e["type"] for e in logged if e["type"] != "batch_end"] == ["run_start", "epoch_end", "epoch_end", "run_end"]
    done = wait_for(client, f"/api/runs/{run['id']}", lambda r: r["status"] in FINAL)
    assert done["status"] == "done" and done["worker_status"]["best_val_acc"] == 0.75
    later = _events(client, run["id"], start=len(logged) - 1)  # a reconnecting viewer gets only what it lacks
    assert [e["type"] for e in later if "seq" in e] == ["run_end"]
    assert client.get(f"/api/runs/{run['id']}/report").json()["confusion_matrix"] == [[3, 1], [1, 3]]
    assert client.get(f"/runs/{run['id']}/files/labels.txt").text == "bat\nowl\n"
    assert client.get(f"/runs/{run['id']}/files/../../nightscan.sqlite3").status_code == 404
    page = client.get(f"/runs/{run['id']}").text
    assert 'id="loss-chart"' in page and "/static/vendor/chartjs/chart.umd.js" in page
    assert client.get("/static/vendor/chartjs/chart.umd.js").status_code == 200
    history = client.get("/runs").text
    assert run["id"] in history and "status-done" in history


def test_cancel_running_and_queued_then_resume(client, tiny_audio, monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_SECONDS", "0.2")
    dataset = register(client, tiny_audio)
    first = _start(client, dataset, epochs=5)
    second = _start(client, dataset, epochs=1)  # one worker slot: waits in the queue
    wait_for(
        client,
        f"/api/runs/{first['id']}",
        lambda r: r["status"] == "running" and os.path.exists(os.path.join(r["run_dir"], "events.jsonl")),
    )
    assert client.get(f"/api/runs/{second['id']}").json()["status"] == "queued"
    assert client.post(f"/api/runs/{second['id']}/cancel").json()["status"] == "cancelled"
    client.post(f"/api/runs/{first['id']}/cancel")
    cancelled = wait_for(client, f"/api/runs/{first['id']}", lambda r: r["status"] in FINAL)
    assert cancelled["status"] == "cancelled" and cancelled["resumable"]
    conflict = client.post(f"/api/runs/{second['id']}/resume")
    assert conflict.status_code == 409 and "no last.ckpt" in conflict.json()["detail"]
    monkeypatch.setenv("FAKE_BATCH_SECONDS", "0.01")
    assert client.post(f"/api/runs/{first['id']}/resume").json()["status"] == "queued"
    resumed = wait_for(client, f"/api/runs/{first['id']}", lambda r: r["status"] in FINAL and r["status"] != "queued")
    assert resumed["status"] == "done"
    events = [json.loads(line) for line in open(os.path.join(resumed["run_dir"], "events.jsonl"))]
    starts = [e for e in events if e["type"] == "run_start"]
    assert len(starts) == 2 and starts[1]["resumed_from_epoch"] is not None
    assert client.post(f"/api/runs/{first['id']}/cancel").status_code == 409


def test_failed_worker_is_recorded_with_its_error(client, tiny_audio, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL", "1")
    run = _start(client, register(client, tiny_audio))
    failed = wait_for(client, f"/api/runs/{run['id']}", lambda r: r["status"] in FINAL)
    assert failed["status"] == "failed" and "fake failure" in failed["error"]
    missing = client.get(f"/api/runs/{run['id']}/report")  # not one epoch finished: nothing to report
    assert missing.status_code == 404 and "not one epoch has finished" in missing.json()["detail"]


def test_a_cancelled_run_reports_its_finished_epochs(client, tiny_audio, monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_SECONDS", "0.02")
    run = _start(client, register(client, tiny_audio), epochs=100)
    wait_for(client, f"/api/runs/{run['id']}", lambda r: os.path.exists(os.path.join(r["run_dir"], "metrics.csv")))
    client.post(f"/api/runs/{run['id']}/cancel")
    wait_for(client, f"/api/runs/{run['id']}", lambda r: r["status"] in FINAL)
    report = client.get(f"/api/runs/{run['id']}/report")
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["complete"] is False and body["status"] == "cancelled" and body["epochs_completed"] >= 1
    assert body["best_epoch"] >= 1 and "finished epoch" in body["note"]


def test_export_then_benchmark_and_download_artifacts(client, tiny_audio):
    run = _start(client, register(client, tiny_audio), epochs=1)
    refused = client.post(f"/api/runs/{run['id']}/exports", json={"formats": ["onnx"]})
    assert refused.status_code == 409  # not finished yet
    wait_for(client, f"/api/runs/{run['id']}", lambda r: r["status"] == "done")
    bad = client.post(f"/api/runs/{run['id']}/exports", json={"formats": ["onnnx"]})
    assert bad.status_code == 422 and "unknown: onnnx" in bad.json()["detail"]
    job = client.post(f"/api/runs/{run['id']}/exports", json={"formats": ["onnx"], "int8": True}).json()
    done = wait_for(client, f"/api/exports/{job['id']}", lambda e: e["status"] in FINAL)
    assert done["status"] == "done", done
    names = {f["name"] for f in done["files"]}
    assert {"model.onnx", "bundle.zip", "manifest.json"} <= names
    assert client.get(f"/exports/{job['id']}/files/model.onnx").content == b"fake onnx"
    bench = client.post(f"/api/exports/{job['id']}/bench").json()
    bench_done = wait_for(client, f"/api/exports/{bench['id']}", lambda e: e["status"] in FINAL)
    assert bench_done["status"] == "done" and [f["name"] for f in bench_done["files"]] == ["bench.json", "bench.png"]
    # the export's results table: export figures joined with the benchmark's, per file
    results = client.get(f"/api/exports/{job['id']}").json()["results"]
    fp32, int8 = results["rows"]
    assert (fp32["format"], fp32["precision"], fp32["size_mb"]) == ("onnx", "fp32", 0.9)
    assert (fp32["p50_ms"], fp32["p95_ms"], fp32["accuracy"], fp32["parity_top1"]) == (4.2, 5.1, 0.9, 1.0)
    assert int8["gate"].startswith("rejected: accuracy dropped 4.0") and int8["int8_drop_points"] == 4.0
    assert results["calibration"]["threshold"] == 0.62 and results["calibration"]["edge_share"] == 0.71
    assert results["bench_png"] and client.get(f"/api/exports/{job['id']}").json()["bench_id"] == bench["id"]


def test_restart_keeps_history_adopts_live_workers_and_interrupts_dead_ones(settings, tiny_audio, monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_SECONDS", "0.1")
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        dataset = register(client, tiny_audio)
        finished = _start(client, dataset, epochs=1)
        wait_for(client, f"/api/runs/{finished['id']}", lambda r: r["status"] == "done")
    store = create_app(settings).state.store
    # a run whose worker died with the old server, and one whose worker outlived it
    dead = store.add_run(
        "dead-run", "ultralight_audio", dataset["id"], dataset["path"], [], str(settings.runs_dir / "dead-run")
    )
    store.update_run(dead["id"], status="running", pid=2**22 + 12345)
    alive_dir = settings.runs_dir / "alive-run"
    worker = subprocess.Popen(
        [*settings.worker_command, "train", "--run-dir", str(alive_dir), "--set", "train.epochs=2"],
        start_new_session=True,
    )
    try:
        store.add_run("alive-run", "ultralight_audio", dataset["id"], dataset["path"], [], str(alive_dir))
        store.update_run("alive-run", status="running", pid=worker.pid)
        with TestClient(create_app(settings), base_url=BASE_URL) as client:
            runs = {r["id"]: r for r in client.get("/api/runs").json()}
            assert runs[finished["id"]]["status"] == "done"
            assert runs["dead-run"]["status"] == "interrupted" and "resume" in runs["dead-run"]["error"]
            assert runs["alive-run"]["status"] == "running"
            worker.wait(timeout=20)
            adopted = wait_for(client, "/api/runs/alive-run", lambda r: r["status"] in FINAL)
            assert adopted["status"] == "done"
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)


def test_server_shutdown_interrupts_running_workers_and_they_resume(settings, tiny_audio, monkeypatch):
    monkeypatch.setenv("FAKE_BATCH_SECONDS", "0.2")
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        run = _start(client, register(client, tiny_audio), epochs=4)
        wait_for(
            client,
            f"/api/runs/{run['id']}",
            lambda r: r["status"] == "running" and os.path.exists(os.path.join(r["run_dir"], "events.jsonl")),
        )
        time.sleep(1.2)  # let an epoch finish so last.ckpt exists
    monkeypatch.setenv("FAKE_BATCH_SECONDS", "0.01")
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        stopped = client.get(f"/api/runs/{run['id']}").json()
        assert stopped["status"] == "interrupted" and stopped["resumable"]
        client.post(f"/api/runs/{run['id']}/resume")
        assert (
            wait_for(client, f"/api/runs/{run['id']}", lambda r: r["status"] in FINAL and r["status"] != "interrupted")[
                "status"
            ]
            == "done"
        )
    assert sys.executable  # the workers used this interpreter
