"""kill -9 of the web server while a client decides review windows, then a restart on the same data dir: every
decision the server acknowledged is still there and the queue reopens where it was (the review round of
``benchmarks/faults.py``, run once).

The server is the real app under uvicorn in a forked child of this process (the modules are already imported, so
a start costs milliseconds, not an interpreter start); the child is killed with SIGKILL like ``serve`` would be.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from nightscan_edge.data import write_synthetic_dataset

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:  # the benchmark imports its siblings as a script does
    sys.path.insert(0, str(BENCHMARKS))

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
import faults_server  # noqa: E402 -- needs benchmarks/ on the path first
from nightscan_edge.web import Settings, create_app  # noqa: E402


def _serve(settings: Settings) -> None:
    uvicorn.run(create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning")


class ForkedServer:
    """What ``faults_server.review_round`` drives (``url``, ``start``, ``kill9``, ``starts``), in a forked child."""

    def __init__(self, data_dir: Path, roots: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.settings = Settings(data_dir=data_dir, dataset_roots=(roots,), port=port)
        self.url = f"http://127.0.0.1:{port}"
        self.process: multiprocessing.Process | None = None
        self.starts = 0

    def start(self) -> ForkedServer:
        self.process = multiprocessing.get_context("fork").Process(target=_serve, args=(self.settings,), daemon=True)
        self.process.start()
        self.starts += 1
        deadline = time.monotonic() + 60
        while True:
            try:
                faults_server.call(f"{self.url}/api/review", timeout=5)
                return self
            except OSError:
                assert self.process.is_alive() and time.monotonic() < deadline, "the forked server did not start"
                time.sleep(0.05)

    def kill9(self) -> None:
        assert self.process is not None and self.process.pid is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.join()

    def stop(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.kill9()


def test_no_acknowledged_decision_is_lost_to_a_kill9_of_the_server(tmp_path):
    roots = tmp_path / "roots"
    data = write_synthetic_dataset(roots / "set", per_class=3, sample_rate=8000)
    server = ForkedServer(tmp_path / "data", roots).start()
    try:
        dataset_id = faults_server.call(f"{server.url}/api/datasets", {"path": str(data)})["id"]
        row = faults_server.review_round(server, dataset_id, roots, random.Random(0), windows=60)
    finally:
        server.stop()
    assert row["decisions acknowledged"] >= 5 and row["decisions lost"] == 0, row
    assert row["back where it was"], row
    assert server.starts == 2 and row["stored after restart"] >= row["decisions acknowledged"]
