"""Peak memory of training's data path with one long recording in a class folder: decoded whole (before) vs read
a window at a time by seeking (after, ``data.media.SEEK_READ_MIN_SECONDS``).

Each measurement runs in a fresh process: it prepares a small set (8 one-second clips in two classes) plus the
long recording, lays out the training split and draws ``--batches`` batches, then reports its peak RSS. "Before"
is the same code with the seek threshold set to infinity, so every file is decoded whole as it used to be.
Issue 26: a 3-hour 183 MB FLAC peaked at 3.95 GB and grew with the file's length.

    python benchmarks/long_file_memory.py                       # 5 and 20 minutes, 48 kHz mono FLAC
    python benchmarks/long_file_memory.py --minutes 5 20 60 --source-rate 48000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import torch

from bench_common import RESULTS_DIR, clock, command_line, load_average, machine_summary, today, write_result
from nightscan_edge.config import resolve_config
from nightscan_edge.data import media
from nightscan_edge.data.batches import train_data
from nightscan_edge.data.cache import MediaCache
from nightscan_edge.data.prepare import prepare_data


def write_set(root: Path, minutes: float, source_rate: int) -> Path:
    """Two classes of four 1 s tones and, among the first class, a long recording written a minute at a time."""
    rng = np.random.default_rng(0)
    rows = ["path,label,split"]
    for label, frequency in (("owl", 500), ("fox", 900)):
        for index in range(4):
            t = np.arange(source_rate) / source_rate
            tone = 0.4 * np.sin(2 * np.pi * (frequency + 40 * index) * t) + 0.01 * rng.standard_normal(t.size)
            soundfile.write(root / f"{label}{index}.wav", tone.astype(np.float32), source_rate)
            rows.append(f"{label}{index}.wav,{label},{'val' if index == 3 else 'train'}")
    with soundfile.SoundFile(root / "night.flac", "w", source_rate, 1, format="FLAC", subtype="PCM_16") as handle:
        for minute in range(int(minutes)):
            t = np.arange(60 * source_rate) / source_rate + 60 * minute
            block = 0.2 * np.sin(2 * np.pi * 700 * t) * (np.sin(2 * np.pi * 0.05 * t) > 0)
            handle.write((block + 0.02 * rng.standard_normal(t.size)).astype(np.float32))
    rows.append("night.flac,owl,train")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


def _status_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure(manifest: Path, seek: bool, batches: int) -> dict[str, float]:
    """In this (fresh) process: prepare, lay out, draw batches; the peak RSS of that alone.

    The peak is reset after the imports (``/proc/self/clear_refs`` 5, Linux), whose own transient peak would
    otherwise hide everything below it.
    """
    torch.set_num_threads(1)
    if not seek:
        media.SEEK_READ_MIN_SECONDS = math.inf  # every file decoded whole: the path before seeking
    config = resolve_config(
        {
            "data": {"path": str(manifest), "num_workers": 0},
            "model": {"name": "ultralight_audio"},
            "train": {"batch_size": 8, "min_steps_per_epoch": 0},
        }
    )
    Path("/proc/self/clear_refs").write_text("5")
    imported_mb = _status_mb("VmRSS")
    wall, cpu = clock()
    prepared = prepare_data(config, cache=MediaCache("none"))
    data = train_data(config, prepared)
    for _, batch in zip(range(batches), iter(data.loader), strict=False):
        assert batch["x"].shape[1] == prepared.spec.clip_samples
    wall_end, cpu_end = clock()
    return {
        "imported_mb": imported_mb,
        "peak_mb": _status_mb("VmHWM"),
        "cpu_s": cpu_end - cpu,
        "wall_s": wall_end - wall,
    }


def run_child(manifest: Path, seek: bool, batches: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", str(manifest), "--batches", str(batches)]
    output = subprocess.run(
        command + (["--seek"] if seek else []),
        check=True,
        capture_output=True,
        text=True,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
    ).stdout
    figures: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 20])
    parser.add_argument("--source-rate", type=int, default=48000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--seek", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child), args.seek, args.batches)))
        return
    rows = []
    for minutes in args.minutes:
        with tempfile.TemporaryDirectory() as scratch:
            manifest = write_set(Path(scratch), minutes, args.source_rate)
            size_mb = (Path(scratch) / "night.flac").stat().st_size / 1e6
            for seek in (False, True):
                figures = run_child(manifest, seek, args.batches)
                row = {
                    "recording": f"{minutes:g} min, {args.source_rate} Hz mono FLAC ({size_mb:.0f} MB)",
                    "read": "window by window (seek)" if seek else "decoded whole (before)",
                    "peak RSS MB": round(figures["peak_mb"]),
                    "data path MB (peak - after imports)": round(figures["peak_mb"] - figures["imported_mb"]),
                    "CPU s": round(figures["cpu_s"], 1),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    write_result(
        RESULTS_DIR / "long_file_memory.json",
        {
            "title": "Peak memory of training's data path with one long recording in a class folder",
            "date": today(),
            "machine": machine_summary(1) + f"; load average {load_average()}",
            "command": command_line(script=__file__),
            "setup": (
                f"8 one-second clips in 2 classes plus one long recording in the first; ultralight_audio's default "
                f"spec (22,050 Hz); prepare_data + train_data + {args.batches} batches of 8, data.cache=none, "
                "one process each; peak RSS is VmHWM, reset after the imports; 'data path MB' subtracts the RSS then."
            ),
            "figures": rows,
        },
    )


if __name__ == "__main__":
    main()
