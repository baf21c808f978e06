"""Decisions per minute on the Review page, keyboard only: the UI's own overhead, without a person's thinking.

A server (the real app, in this process, on a free port) holds a queue of N one-second windows from generated
night recordings; headless Chromium opens the Review page and presses one key per window (accept, a label digit,
background, reject in turn). Each decision is timed from the key press until the page shows the next window
with its spectrogram loaded and the decision saved (the progress line counts it). No sleeps: the browser waits
on the page's own state. The first window's picture is drawn cold; later ones come from the page's prefetch, as
a person reviewing at speed meets them.

    python benchmarks/review_speed.py --windows 60 --out benchmarks/results/review_speed.json

Target (issue 26): >= 20 decisions per minute of UI overhead, i.e. <= 3 s per decision.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from bench_common import command_line, load_average, machine_summary, today, write_result
from nightscan_edge.data import write_synthetic_dataset
from nightscan_edge.web import Settings, create_app

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
KEYS = ("Enter", "2", "b", "x", "a", "5")  # accept, a label digit, background, reject, accept, background by digit
WINDOW_SECONDS = 1.0
TARGET_PER_MINUTE = 20.0


def call(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@contextmanager
def running_server(data_dir: Path, roots: Path) -> Iterator[str]:
    """The app under uvicorn in a thread of this process (no second interpreter to start); yields its URL."""
    # uvicorn comes with the web extra: pip install 'nightscan-edge[web]'
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(data_dir=data_dir, dataset_roots=(roots,), port=port)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the review server did not start")
        time.sleep(0.02)  # waiting for a thread to bind its socket, not part of any measurement
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def write_recordings(root: Path, windows: int, per_recording: int = 10) -> Path:
    """Night recordings of tones in noise at 8 kHz and the prelabel CSV proposing a class for each 1 s window."""
    from nightscan_edge.data.synth import AUDIO_CLASSES

    rng = np.random.default_rng(0)
    rows = ["path,start_s,end_s,label,common_name,confidence"]
    for number in range(windows):
        recording = root / "nights" / f"night{number // per_recording}.wav"
        if not recording.exists():
            recording.parent.mkdir(parents=True, exist_ok=True)
            t = np.arange(int(per_recording * WINDOW_SECONDS * 8000)) / 8000
            signal = 0.4 * np.sin(2 * np.pi * (400 + 150 * (number // per_recording)) * t) * (np.sin(3 * t) > 0)
            soundfile.write(recording, (signal + 0.02 * rng.standard_normal(t.size)).astype(np.float32), 8000)
        start = (number % per_recording) * WINDOW_SECONDS
        label = AUDIO_CLASSES[number % len(AUDIO_CLASSES)]
        rows.append(f"{recording},{start:.3f},{start + WINDOW_SECONDS:.3f},{label},{label},{0.3 + number % 7 / 10:.4f}")
    csv_path = root / "nights" / "prelabel.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    return csv_path


def prepare_queue(url: str, roots: Path, windows: int, name: str = "nights") -> dict[str, Any]:
    """A registered generated data set, its review queue and ``windows`` windows in it (via the HTTP API)."""
    dataset = write_synthetic_dataset(roots / "night-sounds", kind="audio", per_class=3, sample_rate=8000)
    registered = call(f"{url}/api/datasets", {"path": str(dataset), "name": "night sounds"})
    call(f"{url}/api/review", {"dataset_id": registered["id"], "name": name})
    imported: dict[str, Any] = call(f"{url}/api/review/{name}/import", {"path": str(write_recordings(roots, windows))})
    return imported


def wait_for_window(page: Any, decided: int, previous_id: str) -> str:
    """Until the page shows another window than ``previous_id``, its picture loaded, ``decided`` decisions saved."""
    page.wait_for_function(
        """([decided, previous]) => {
            const card = document.getElementById("current");
            return card.dataset.state === "ready" && card.dataset.windowId !== previous
                && document.getElementById("progress").textContent.startsWith(`${decided} of`);
        }""",
        arg=[decided, previous_id],
        polling="raf",
    )
    window_id: str = page.get_attribute("#current", "data-window-id")
    return window_id


def review_by_keyboard(page: Any, url: str, queue: str, keys: list[str]) -> list[float]:
    """Open the queue and press ``keys[i]`` for window i; seconds from each key press to the next window shown."""
    page.goto(f"{url}/review/{queue}")
    current = wait_for_window(page, 0, "")
    seconds = []
    for number, key in enumerate(keys, start=1):
        started = time.perf_counter()
        page.keyboard.press(key)
        if number == len(keys):  # the last decision shows no new window: wait for it to be counted
            page.wait_for_function(
                "n => document.getElementById('progress').textContent.startsWith(`${n} of`)", arg=number, polling="raf"
            )
        else:
            current = wait_for_window(page, number, current)
        seconds.append(time.perf_counter() - started)
    return seconds


def measure(windows: int, chromium: str) -> dict[str, Any]:
    # playwright is a dev extra (the browser tests'); Debian's chromium, never `playwright install`
    from playwright.sync_api import sync_playwright

    base = Path(tempfile.mkdtemp(prefix="nightscan-review-speed-"))
    try:
        with running_server(base / "data", base / "roots") as url, sync_playwright() as playwright:
            prepare_queue(url, base / "roots", windows)
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
            page = browser.new_page()
            started = time.perf_counter()
            seconds = review_by_keyboard(page, url, "nights", [KEYS[i % len(KEYS)] for i in range(windows)])
            total = time.perf_counter() - started
            browser.close()
            saved = call(f"{url}/api/review/nights")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    later = seconds[1:] or seconds
    return {
        "windows": windows,
        "decisions saved": windows - saved["pending"],
        "decisions per minute (keys only)": round(60 * len(seconds) / sum(seconds), 1),
        "decisions per minute (incl. page load)": round(60 * windows / total, 1),
        "median s per decision": round(statistics.median(seconds), 3),
        "slowest s (first, cold picture)": round(seconds[0], 3),
        "slowest s (after the first)": round(max(later), 3),
        f"target >= {TARGET_PER_MINUTE:g}/min": "met" if 60 * windows / total >= TARGET_PER_MINUTE else "missed",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=60)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    figures = measure(args.windows, args.chromium)
    print(json.dumps(figures, indent=2))
    if args.out:
        write_result(
            args.out,
            {
                "title": "Review page: decisions per minute by keyboard, the UI's own overhead",
                "date": today(),
                "machine": f"{machine_summary(1)}; load average {load_average()} at the end",
                "command": command_line(script=__file__),
                "setup": (
                    f"{args.windows} windows of 1 s from generated 8 kHz night recordings in one queue; headless "
                    "Debian Chromium presses one key per window (Enter, 2, b, x, a, 5 in turn); each decision timed "
                    "from the key press to the next window shown with its spectrogram loaded and the decision saved."
                ),
                "figures": [figures],
                "notes": [
                    "No human think time: a person adds seconds per window to listen and look. The server computes "
                    "each window's spectrogram on first request (matplotlib, cached); the page prefetches the next "
                    "two windows' pictures and sounds while the current one is shown."
                ],
            },
        )


if __name__ == "__main__":
    main()
