"""WebSocket load: N concurrent viewers of one running training job.

Starts ``nightscan-edge serve`` on a temporary data dir, trains the same small run twice -- once with no
viewer, once with ``--viewers`` WebSocket clients following it from the first event -- and prints:

- message lag (receive time minus the event's own ``time`` stamp) p50 / p95 / max over all viewers,
- whether every viewer received every event,
- training time (run_start -> run_end, from the worker's own event stamps) without and with viewers, and the
  slowdown (target < 5 %),
- the server's own CPU time during each run: what serving the viewers costs, whatever else runs on the
  machine (on a shared, busy machine the training time alone is too noisy to resolve a few percent).

    .venv/bin/python benchmarks/ws_load.py                # 50 viewers, synthetic data, tiny spectrogram
    .venv/bin/python benchmarks/ws_load.py --viewers 100 --epochs 4 --pairs 2

On a shared machine the training time itself varies by a few percent between identical runs, so
``--pairs N`` alternates N runs without and N with viewers and compares the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TINY_AUDIO = {
    "train": {"batch_size": 4},
    "model": {"audio": {"sample_rate": 8000, "clip_samples": 4096, "n_fft": 256, "hop_length": 128, "n_mels": 32}},
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _api(url: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode() if body is not None else None, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


async def _viewer(ws_url: str, lags: list[float], counts: list[int], done: asyncio.Event) -> None:
    from websockets.asyncio.client import connect

    received = 0
    async with connect(ws_url, max_size=None) as socket_:
        async for raw in socket_:
            now = time.time()
            event = json.loads(raw)
            if "seq" in event:
                received += 1
                lags.append(now - event["time"])
                if event["type"] == "run_end":
                    break
    counts.append(received)
    done.set()


async def _run_once(base: str, dataset_id: str, epochs: int, viewers: int, server_pid: int) -> dict:
    config = {**TINY_AUDIO, "train": {**TINY_AUDIO["train"], "epochs": epochs}}
    cpu_before, wall_before = _cpu_seconds(server_pid), time.time()
    run = _api(f"{base}/api/runs", {"model": "ultralight_audio", "dataset_id": dataset_id, "config": config})
    lags: list[float] = []
    counts: list[int] = []
    finished = asyncio.Event()
    ws_base = base.replace("http://", "ws://")
    tasks = [
        asyncio.create_task(_viewer(f"{ws_base}/ws/runs/{run['id']}?from=0", lags, counts, finished))
        for _ in range(viewers)
    ]
    while True:
        state = await asyncio.to_thread(_api, f"{base}/api/runs/{run['id']}")
        if state["status"] in ("done", "failed", "cancelled", "interrupted"):
            break
        await asyncio.sleep(2.0)  # light polling: its cost is the server's too
    if tasks:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    server_cpu_s, wall_s = _cpu_seconds(server_pid) - cpu_before, time.time() - wall_before
    if state["status"] != "done":
        raise SystemExit(f"run {run['id']} ended {state['status']}: {state['error']}")
    events = [json.loads(line) for line in open(Path(state["run_dir"]) / "events.jsonl")]
    start = next(e["time"] for e in events if e["type"] == "run_start")
    end = next(e["time"] for e in events if e["type"] == "run_end")
    epoch_seconds = sum(e["seconds"] for e in events if e["type"] == "epoch_end")
    return {
        "train_s": end - start,
        "epoch_s": epoch_seconds,
        "events": len(events),
        "lags": lags,
        "counts": counts,
        "server_cpu_s": server_cpu_s,
        "wall_s": wall_s,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to see what serving the viewers costs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def _main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="nightscan-ws-load-"))
    data_root = work / "roots"
    if args.data:
        data_path = Path(args.data).resolve()
        data_root = data_path.parent
    else:
        from nightscan_edge.data import write_synthetic_dataset

        data_path = write_synthetic_dataset(data_root / "synthetic", per_class=args.per_class, sample_rate=8000)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(work / "server.log", "wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nightscan_edge.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(work / "data"),
            "--dataset-root",
            str(data_root),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        for _ in range(300):
            try:
                _api(f"{base}/api/runs")
                break
            except OSError:
                await asyncio.sleep(0.3)
        dataset = _api(f"{base}/api/datasets", {"path": str(data_path)})
        results: dict[str, list[dict]] = {"none": [], "viewers": []}
        for pair in range(args.pairs):
            for label, viewers in (("none", 0), ("viewers", args.viewers)):
                result = await _run_once(base, dataset["id"], args.epochs, viewers, server.pid)
                results[label].append(result)
                print(
                    f"pair {pair + 1}: {viewers:3d} viewers -> training {result['train_s']:.1f} s "
                    f"(epochs {result['epoch_s']:.1f} s, {result['events']} events); server CPU "
                    f"{result['server_cpu_s']:.2f} s = {100 * result['server_cpu_s'] / result['wall_s']:.2f} % of one "
                    f"core",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
    lags_ms = [lag * 1000 for r in results["viewers"] for lag in r["lags"]]
    complete = all(count == r["events"] for r in results["viewers"] for count in r["counts"]) and all(
        len(r["counts"]) == args.viewers for r in results["viewers"]
    )
    base_s = statistics.median(r["train_s"] for r in results["none"])
    load_s = statistics.median(r["train_s"] for r in results["viewers"])
    slowdown = 100 * (load_s / base_s - 1)
    print(
        f"\n{args.viewers} WebSocket viewers, {len(lags_ms)} messages: lag p50 {_percentile(lags_ms, 0.5):.0f} ms, "
        f"p95 {_percentile(lags_ms, 0.95):.0f} ms, max {max(lags_ms):.0f} ms; every viewer got every event: "
        f"{'yes' if complete else 'NO'}"
    )
    print(
        f"training time (median of {args.pairs}): {base_s:.1f} s without viewers, {load_s:.1f} s with "
        f"{args.viewers} -> slowdown {slowdown:+.1f} % (target < 5 %)"
    )
    extra_cpu = statistics.median(r["server_cpu_s"] for r in results["viewers"]) - statistics.median(
        r["server_cpu_s"] for r in results["none"]
    )
    print(
        f"server CPU spent on the viewers: {extra_cpu:.2f} s over a {load_s:.0f} s run = "
        f"{100 * extra_cpu / load_s:.2f} % of one core (the most it can take from training)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=1, help="runs without and with viewers, alternated")
    parser.add_argument("--per-class", type=int, default=12, help="synthetic clips per class")
    parser.add_argument("--data", help="an audio dataset folder instead of the synthetic one")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
