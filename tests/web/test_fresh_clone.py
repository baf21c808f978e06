"""``make run`` on a fresh clone: ``serve --demo`` from an empty folder with nothing beside it.

This is the path every new user takes; it once failed with "dataset path .nightscan/web/datasets/demo-synthetic
must be absolute" because the default data dir was relative. The server is started exactly as the Makefile
does (default data dir, ``--demo``), with the working directory a fresh temporary folder and no
``NIGHTSCAN_*`` variables, so no shared data can be found.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str, timeout: float = 120) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        assert response.status == 200
        return response.read().decode()


def start_fresh_demo(folder: Path) -> tuple[subprocess.Popen, str, Path]:
    """``nightscan-edge serve --demo`` with cwd = ``folder`` and a clean environment; waits until it answers."""
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("NIGHTSCAN_")}
    env["OMP_NUM_THREADS"] = "1"
    log_path = folder / "server.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "nightscan_edge.cli", "serve", "--port", str(port), "--demo"],
        cwd=folder,
        env=env,
        stdout=open(log_path, "wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve --demo exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        try:
            _get(f"{url}/api/datasets", timeout=2)
            return process, url, log_path
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise AssertionError(f"serve --demo did not answer within 120 s: {log_path.read_text()[-2000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_demo_from_an_empty_folder_generates_its_own_data_and_serves_every_page(tmp_path):
    fresh = tmp_path / "fresh-clone"
    fresh.mkdir()
    assert not (fresh.parent / "shared").exists()
    process, url, log_path = start_fresh_demo(fresh)
    try:
        import json

        datasets = json.loads(_get(f"{url}/api/datasets"))
        assert [d["source"] for d in datasets] == ["demo"]
        demo_path = Path(datasets[0]["path"])
        # the default data dir is made absolute against the working directory: the demo lives inside it
        assert demo_path.is_absolute() and demo_path.is_relative_to(fresh / ".nightscan" / "web")
        assert datasets[0]["summary"]["total"] > 0
        assert "Model catalogue" in _get(f"{url}/")
        assert "synthetic sounds (demo)" in _get(f"{url}/datasets")
    finally:
        stop(process)
    assert "must be absolute" not in log_path.read_text()
