"""The whole interface in real headless Chromium (Debian ``chromium`` + Python Playwright), real workers.

One story, as a user would click it: catalogue -> register a tiny synthetic dataset -> start a run and
cancel it -> start a second run and watch the chart fill over the WebSocket until it is done -> export ONNX,
download it and run it in onnxruntime -> restart the server (a new process on the same data dir) and find
the history intact.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A deliberately tiny audio front-end so two epochs take seconds on a shared 2-core machine.
TINY_AUDIO = {
    "train.batch_size": "4",
    "model.audio.sample_rate": "8000",
    "model.audio.clip_samples": "4096",
    "model.audio.n_fft": "256",
    "model.audio.hop_length": "128",
    "model.audio.n_mels": "32",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``nightscan-edge serve`` as its own process, as a user starts it."""

    def __init__(self, data_dir: Path, dataset_root: Path):
        self.data_dir, self.dataset_root = data_dir, dataset_root
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> Server:
        log = open(self.data_dir.parent / f"server-{self.port}.log", "ab")
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nightscan_edge.cli",
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--dataset-root",
                str(self.dataset_root),
                "--max-parallel-jobs",
                "2",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {(self.data_dir.parent / f'server-{self.port}.log').read_text()}")
            try:
                urllib.request.urlopen(f"{self.url}/api/runs", timeout=2)
                return self
            except OSError:
                time.sleep(0.3)
        raise AssertionError("server did not answer within 90 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium; .ci/run does it)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _new_run(page, server: Server, dataset_name: str, epochs: int) -> str:
    page.goto(f"{server.url}/runs/new?model=ultralight_audio")
    page.select_option("#dataset", label=f"{dataset_name} (audio, 12 files)")
    page.evaluate("document.querySelectorAll('#new-run details').forEach((d) => { d.open = true; })")
    page.fill('[name="train.epochs"]', str(epochs))
    for name, value in TINY_AUDIO.items():
        page.fill(f'[name="{name}"]', value)
    page.click("#start-run")
    page.wait_for_url(f"{server.url}/runs/*")
    return page.url.rsplit("/", 1)[1]


def test_train_watch_cancel_export_download_and_restart(browser, tmp_path):
    from nightscan_edge.data import write_synthetic_dataset

    dataset_root = tmp_path / "roots"
    dataset = write_synthetic_dataset(dataset_root / "tiny-sounds", kind="audio", per_class=3, sample_rate=8000)
    server = Server(tmp_path / "data", dataset_root).start()
    try:
        page = browser.new_page(accept_downloads=True)
        page.set_default_timeout(60_000)
        page.goto(server.url)
        assert page.locator("#catalogue tbody tr").count() >= 3
        assert page.locator('tr[data-model="ultralight_audio"]').is_visible()

        # bad input first: a path outside the roots is refused with a clear message
        page.goto(f"{server.url}/datasets")
        page.fill('[name="path"]', str(tmp_path))
        page.click("form[action='/datasets/register'] button")
        assert "outside the allowed dataset roots" in page.text_content("#dataset-error")
        page.fill('[name="path"]', str(dataset))
        page.click("form[action='/datasets/register'] button")
        assert page.locator("section.dataset").count() == 1
        assert "synthetic_chirp" in page.text_content("section.dataset")

        # an invalid value is shown next to its field and nothing starts
        page.goto(f"{server.url}/runs/new?model=ultralight_audio")
        page.fill('[name="train.lr"]', "-1")
        page.click("#start-run")
        assert "greater than 0" in page.text_content('[data-field="train.lr"] .field-error')

        # two runs at once (their worker start-ups overlap): one is cancelled while it trains, one finishes
        done_id = _new_run(page, server, "tiny-sounds", epochs=2)
        cancelled_id = _new_run(page, server, "tiny-sounds", epochs=50)
        page.wait_for_function(
            "document.getElementById('progress-text').textContent.includes('batch')", timeout=120_000
        )
        page.once("dialog", lambda dialog: dialog.accept())  # Cancel asks first
        page.click("#cancel")
        page.wait_for_function("document.getElementById('status').textContent === 'cancelled'", timeout=60_000)

        # the finished run's page: one chart point per epoch, streamed over the WebSocket from the event log
        page.goto(f"{server.url}/runs/{done_id}")
        page.wait_for_function("document.getElementById('status').textContent === 'done'", timeout=240_000)
        points = page.evaluate("Chart.getChart('loss-chart').data.datasets[0].data.length")
        assert points == 2
        page.wait_for_selector("#report:not([hidden]) #confusion tr")
        assert page.locator("#per-class tr").count() == 1 + 4  # header + one row per class

        # export ONNX from the finished run, download it, run it
        page.click("#export")
        page.wait_for_selector(".export-job[data-status='done']", timeout=240_000)
        with page.expect_download() as download_info:
            page.click(".export-job a:text-is('model.onnx')")
        onnx_path = tmp_path / "downloaded.onnx"
        download_info.value.save_as(onnx_path)
        import numpy as np
        import onnxruntime

        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        waveform = np.zeros((1, int(TINY_AUDIO["model.audio.clip_samples"])), dtype=np.float32)
        probabilities = session.run(None, {session.get_inputs()[0].name: waveform})[0]
        assert probabilities.shape == (1, 4) and abs(float(probabilities.sum()) - 1) < 1e-4

        # Try it: the exported ONNX file on a dataset recording, windows on the log-mel timeline
        page.goto(f"{server.url}/try")
        page.select_option("#dataset_file", index=1)
        page.fill("#threshold", "0.99")  # an untrained-ish model is unsure: windows go to the server
        page.click("#try")
        page.wait_for_selector("#try-timeline")
        assert page.locator("#try-windows tbody tr").count() >= 1
        assert "sent to the server at threshold 0.99" in page.text_content("#try-summary")
    finally:
        server.stop()

    # a new server process on the same data dir finds the whole history
    server = Server(tmp_path / "data", dataset_root).start()
    try:
        page = browser.new_page()
        page.goto(f"{server.url}/runs")
        assert page.text_content(f'tr[data-run="{cancelled_id}"] .status') == "cancelled"
        assert page.text_content(f'tr[data-run="{done_id}"] .status') == "done"
        page.goto(f"{server.url}/runs/{done_id}")
        page.wait_for_function("Chart.getChart('loss-chart').data.datasets[0].data.length === 2")
    finally:
        server.stop()
