"""Two-process DDP on the CPU (gloo), through the CLI as a user runs it: one run folder written by rank 0 only,
metrics synced, ``--resume`` after a hard kill, and the same result as one device within a stated tolerance.

Each rank takes its half of every global batch (``data.batches``), so two devices see exactly the batches one
device sees; what differs is BatchNorm, which normalises each half with its own statistics, and the order of
floating-point sums. Hence a tolerance, not equality: per-epoch training loss within 5 % and validation
accuracy within 0.25 of the one-device run.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nightscan_edge.train import train
from nightscan_edge.train.events import read_events
from tests.train.conftest import tiny_audio_config

pytestmark = pytest.mark.slow
RUN_FILES = {
    "best.ckpt",
    "config.yaml",
    "confusion_matrix.png",
    "curves.png",
    "events.jsonl",
    "labels.txt",
    "last.ckpt",
    "metrics.csv",
    "report.json",
    "run.lock",
    "split.csv",
    "status.json",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cli(*args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "nightscan_edge.cli",
        "train",
        *args,
        "--accelerator",
        "cpu",
        "--devices",
        "2",
        "--strategy",
        "ddp",
        "--no-progress",
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "OMP_NUM_THREADS": "1"}


def _rows(run_dir: Path) -> list[dict]:
    with (run_dir / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_two_cpu_processes_train_one_run_that_resumes_and_matches_one_device(synth_audio, tmp_path):
    config = tiny_audio_config(synth_audio, epochs=3)
    reference = train(config, run_dir=tmp_path / "one", progress=False)
    (tmp_path / "config.yaml").write_text(config.to_yaml())
    run_dir = tmp_path / "ddp"

    # Started, then killed hard (every process) once the first epoch is done: a crash, not a clean stop.
    process = subprocess.Popen(
        _cli("--config", str(tmp_path / "config.yaml"), "--run-dir", str(run_dir)),
        env=_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 240
    while not any(e["type"] == "epoch_end" for e in read_events(run_dir / "events.jsonl")):
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no epoch finished within 240 s"
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    resumed = subprocess.run(_cli("--resume", str(run_dir)), env=_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stdout.count("best val accuracy") == 1  # rank 0 reports; rank 1 is quiet

    assert {p.name for p in run_dir.iterdir()} == RUN_FILES  # one folder, no per-rank or lightning_logs leftovers
    events = read_events(run_dir / "events.jsonl")
    starts = [e for e in events if e["type"] == "run_start"]
    # One per launch (rank 0 only), counted from 1. The kill lands after the first epoch_end is seen; the tiny
    # epochs are so short that, on a loaded machine, a second one may end first: resumed at epoch 1, 2 or 3.
    assert len(starts) == 2 and starts[-1]["resumed_from_epoch"] in (1, 2, 3)
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "done"
    ddp_rows, one_rows = _rows(run_dir), _rows(reference.run_dir)
    assert [r["epoch"] for r in ddp_rows] == [r["epoch"] for r in one_rows] == ["1", "2", "3"]
    for ddp, one in zip(ddp_rows, one_rows, strict=True):
        # train figures are over the whole global batch (summed across ranks), not one rank's half
        assert float(ddp["train_loss"]) == pytest.approx(float(one["train_loss"]), rel=0.05)
        assert abs(float(ddp["val_acc"]) - float(one["val_acc"])) <= 0.25
