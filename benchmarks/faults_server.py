"""Fault injection for the web server (``benchmarks/faults.py --server-rounds N``): ``kill -9`` of
``nightscan-edge serve`` while a run trains, while a zip is being uploaded and while a person reviews, then a
restart on the same data dir.

- training: the run requested before the kill is listed after the restart and ends ``done`` (its worker is its
  own process: the restarted server adopts it, or resumes it from ``last.ckpt`` when it was interrupted), each
  epoch once in ``metrics.csv``;
- upload: the datasets and runs registered before the kill are all there; the upload in flight is either
  registered whole or not at all (never a half-unpacked data set), and uploading it again works;
- review: a client decides window after window; every decision the server acknowledged (HTTP 201) is in the queue
  after the restart, and the queue reopens at the first undecided window (the one after the last acknowledged
  decision, or the one after that when the decision in flight at the kill was stored before the answer was sent).
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from nightscan_edge.data import write_synthetic_dataset

START_TIMEOUT_S = 180.0


def call(url: str, body: dict[str, Any] | None = None, timeout: float = 60) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


class Server:
    """``nightscan-edge serve`` in its own process on a fixed port and data dir; ``kill9`` and ``start`` again."""

    def __init__(self, data_dir: Path, roots: Path, log: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir, self.roots, self.log = data_dir, roots, log
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Server:
        argv = [sys.executable, "-m", "nightscan_edge.cli", "serve", "--port", str(self.port),
                "--data-dir", str(self.data_dir), "--dataset-root", str(self.roots)]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTSCAN_")} | {"OMP_NUM_THREADS": "1"}
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env)
        self.starts += 1
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                call(f"{self.url}/api/runs", timeout=5)
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(self.log.read_text(errors="replace")[-3000:]) from None
                time.sleep(0.1)  # waiting for the server to listen; not part of a measurement

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def wait_until(probe: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


def training_round(server: Server, dataset_id: str, overrides: list[str], rng: random.Random) -> dict[str, Any]:
    """kill -9 of the server while a run trains; the restarted server finishes it (adopted or resumed)."""
    run = call(f"{server.url}/api/runs", {"model": "ultralight_audio", "dataset_id": dataset_id,
                                           "config": {"train": {"epochs": 4}}, "overrides": overrides})  # fmt: skip
    wait_until(lambda: call(f"{server.url}/api/runs/{run['id']}")["status"] == "running", 120, "the run to start")
    time.sleep(rng.uniform(0.5, 4.0))  # the fault lands at a random moment of the training
    server.kill9()
    server.start()
    resumed = False
    final = ("done", "failed", "cancelled", "interrupted")
    record = wait_until(lambda: (r := call(f"{server.url}/api/runs/{run['id']}"))["status"] in final and r, 600, "run")
    if record["status"] == "interrupted":
        call(f"{server.url}/api/runs/{run['id']}/resume", {})
        resumed = True
        record = wait_until(lambda: (r := call(f"{server.url}/api/runs/{run['id']}"))["status"] in final and r, 600, "")
    with (Path(record["run_dir"]) / "metrics.csv").open(newline="") as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    return {"fault": "kill -9 during training", "run listed after restart": True, "resumed": resumed,
            "run done": record["status"] == "done", "each epoch once": epochs == list(range(1, 5))}  # fmt: skip


def zip_of(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder.parent).as_posix())
    return buffer.getvalue()


def upload_slowly(url: str, payload: bytes, name: str, outcome: dict[str, Any]) -> None:
    """A multipart upload sent in small pieces (a phone on a slow link), so the kill can land mid-body."""
    boundary = "nightscanfaults"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}.zip\"\r\n"
            "Content-Type: application/zip\r\n\r\n").encode()  # fmt: skip
    body = head + payload + f"\r\n--{boundary}--\r\n".encode()
    connection = http.client.HTTPConnection(url.split("//")[1], timeout=60)
    try:
        connection.putrequest("POST", "/api/datasets/upload")
        connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        for offset in range(0, len(body), 64 * 1024):
            connection.send(body[offset : offset + 64 * 1024])
            time.sleep(0.05)
        outcome["status"] = connection.getresponse().status
    except OSError as error:
        outcome["error"] = type(error).__name__
    finally:
        connection.close()


def upload_round(server: Server, folder: Path, rng: random.Random) -> dict[str, Any]:
    """kill -9 of the server during a zip upload: what was registered stays, the upload is whole or absent."""
    before = {d["id"]: d["summary"]["total"] for d in call(f"{server.url}/api/datasets")}
    runs = {r["id"] for r in call(f"{server.url}/api/runs")}
    payload = zip_of(folder)
    outcome: dict[str, Any] = {}
    sender = threading.Thread(target=upload_slowly, args=(server.url, payload, folder.name, outcome))
    sender.start()
    time.sleep(rng.uniform(0.1, 0.05 * len(payload) / (64 * 1024)))  # somewhere within the sending time
    server.kill9()
    sender.join()
    server.start()
    after = {d["id"]: d for d in call(f"{server.url}/api/datasets")}
    new = [d for key, d in after.items() if key not in before]
    whole = all(d["summary"]["total"] == len(list(folder.rglob("*.wav"))) for d in new)
    outcome_again: dict[str, Any] = {}  # the user uploads it again: it works
    upload_slowly(server.url, payload, folder.name + "-again", outcome_again)
    return {"fault": "kill -9 during an upload", "datasets kept": all(k in after for k in before),
            "runs kept": runs <= {r["id"] for r in call(f"{server.url}/api/runs")},
            "upload in flight": "registered whole" if new and whole else ("absent" if not new else "HALF"),
            "upload again": outcome_again.get("status")}  # fmt: skip


def write_night(root: Path, windows: int) -> Path:
    rng = np.random.default_rng(1)
    recording = root / "night.wav"
    soundfile.write(recording, (0.05 * rng.standard_normal(windows * 8000)).astype(np.float32), 8000)
    rows = ["path,start_s,end_s,label,confidence"] + [
        f"{recording},{i}.000,{i + 1}.000,synthetic_tone,0.5000" for i in range(windows)
    ]
    (root / "night.csv").write_text("\n".join(rows) + "\n")
    return root / "night.csv"


def review_round(
    server: Server, dataset_id: str, roots: Path, rng: random.Random, windows: int = 200
) -> dict[str, Any]:
    """kill -9 while a client decides window after window: every acknowledged decision survives."""
    name = f"faults-{server.starts}"
    call(f"{server.url}/api/review", {"dataset_id": dataset_id, "name": name})
    call(f"{server.url}/api/review/{name}/import", {"path": str(write_night(roots, windows))})
    queued = call(f"{server.url}/api/review/{name}/windows")
    acknowledged: list[int] = []

    def decide_all() -> None:
        for window in queued:
            try:
                call(f"{server.url}/api/review/{name}/decisions", {"window_id": window["id"], "action": "accept"}, 10)
            except (OSError, urllib.error.URLError):
                return  # the server is gone
            acknowledged.append(window["id"])

    client = threading.Thread(target=decide_all)
    client.start()
    wait_until(lambda: len(acknowledged) >= 5, 120, "the first decisions")
    time.sleep(rng.uniform(0.0, 2.0))
    server.kill9()
    client.join()
    server.start()
    after = call(f"{server.url}/api/review/{name}/windows")
    stored = {w["id"] for w in after if w["decision"]}
    first_pending = next((i for i, w in enumerate(after) if not w["decision"]), len(after))
    return {"fault": "kill -9 during review", "decisions acknowledged": len(acknowledged),
            "decisions lost": len(set(acknowledged) - stored), "stored after restart": len(stored),
            "queue reopens at": f"window {first_pending + 1} of {len(after)}",
            "back where it was": first_pending in (len(acknowledged), len(acknowledged) + 1)}  # fmt: skip


def server_rounds(root: Path, rounds: int, overrides: list[str], seed: int) -> list[dict[str, Any]]:
    """``rounds`` x (training, upload, review) faults on one server and data dir; one row per fault."""
    rng = random.Random(seed)
    roots = root / "server-roots"
    data = write_synthetic_dataset(roots / "set", per_class=6, seed=1, sample_rate=8000)
    upload = write_synthetic_dataset(root / "upload" / "uploaded", per_class=40, seed=2)
    server = Server(root / "server-data", roots, root / "server.log").start()
    rows = []
    try:
        dataset_id = call(f"{server.url}/api/datasets", {"path": str(data)})["id"]
        for number in range(1, rounds + 1):
            for fault in (
                lambda: training_round(server, dataset_id, overrides, rng),
                lambda: upload_round(server, upload, rng),
                lambda: review_round(server, dataset_id, roots, rng),
            ):
                row = {"round": number, **fault()}
                print(row, flush=True)
                rows.append(row)
    finally:
        server.stop()
    return rows
