"""Long-recording throughput: real-time factor and peak memory of `predict` on 10 vs 60 minutes of audio.

Runs the exported ultralight ONNX model on one core (CPU affinity + 1 intra-op thread) through the same
streaming path as ``nightscan-edge predict`` (decode in blocks -> sliding windows -> batches -> merge).
Each measurement runs in a fresh process so the peak RSS is that recording's own.

    python benchmarks/long_recording.py                       # random-weight ultralight, default spec
    python benchmarks/long_recording.py --artifact runs/RUN/exports/EXPORT/model_int8.onnx
    python benchmarks/long_recording.py --minutes 10 60 --source-rate 48000 --hop-seconds 2.95

Weights do not change the cost of a forward pass, so without ``--artifact`` a randomly initialised
ultralight_audio is exported (with the default 22,050 Hz / 2.95 s / 128-mel spec) -- no training needed.
Target from issue 7: >= 500x real time on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_REAL_TIME_FACTOR = 500


def write_recording(path: Path, minutes: float, sample_rate: int, block_seconds: int = 60) -> Path:
    """Streamed write of bird-like chirps over noise (one block in memory), 16-bit WAV."""
    import soundfile

    rng = np.random.default_rng(0)
    t = np.arange(block_seconds * sample_rate) / sample_rate
    chirp = 0.3 * np.sin(2 * np.pi * (1500 + 800 * np.sin(2 * np.pi * 3 * t)) * t) * (np.sin(2 * np.pi * 0.1 * t) > 0.5)
    with soundfile.SoundFile(str(path), "w", sample_rate, 1, subtype="PCM_16") as handle:
        for _ in range(int(round(minutes * 60 / block_seconds))):
            handle.write((chirp + 0.05 * rng.standard_normal(t.size)).astype(np.float32))
    return path


def export_random_ultralight(out_dir: Path) -> Path:
    import torch

    from nightscan_edge.artifact import INPUT_NAME, OUTPUT_NAME
    from nightscan_edge.artifact.manifest import build_manifest
    from nightscan_edge.artifact.onnx import embed_onnx, export_onnx
    from nightscan_edge.artifact.wrapper import ExportableClassifier, example_input
    from nightscan_edge.models import create_model

    torch.manual_seed(0)
    labels = [f"class_{i}" for i in range(7)]
    model = create_model("ultralight_audio", len(labels)).eval()
    path = out_dir / "model.onnx"
    export_onnx(ExportableClassifier(model), example_input(model, batch=2), path)
    embed_onnx(
        path,
        build_manifest(
            format_name="onnx",
            precision="fp32",
            model_name=model.model_name,
            run_id="benchmark-random-weights",
            labels=labels,
            spec=model.spec.model_dump(mode="json"),
            input_name=INPUT_NAME,
            input_shape=[-1, *model.spec.input_shape],
            output_name=OUTPUT_NAME,
            temperature=1.0,
            export_id="benchmark",
        ),
    )
    return path


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(artifact: str, recording: str, hop_seconds: float | None) -> dict:
    """One measurement in this (fresh) process: pinned to one core, one runtime thread."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import soundfile

    from nightscan_edge.predict import EdgePredictor

    predictor = EdgePredictor(artifact, hop_seconds=hop_seconds, threads=1)
    warm = np.zeros((2, predictor.classifier.spec.clip_samples), dtype=np.float32)
    predictor.classifier.probabilities(warm)  # session warm-up outside the timed part
    rss_before_mb = _rss_mb()
    started, cpu_started = time.perf_counter(), time.process_time()
    result = predictor.predict_file(recording)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if result.error:
        raise SystemExit(f"prediction failed: {result.error}")
    audio_seconds = soundfile.info(recording).duration
    return {
        "audio_minutes": audio_seconds / 60,
        "wall_seconds": seconds,
        "windows": result.windows,
        "detections": len(result.detections),
        "real_time_factor": audio_seconds / seconds,
        "cpu_seconds": cpu_seconds,
        "real_time_factor_cpu": audio_seconds / cpu_seconds,
        "ms_per_window": 1000 * seconds / result.windows,
        "rss_after_load_mb": rss_before_mb,
        "peak_rss_mb": _rss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", help="exported audio model (.onnx/.tflite/.pte); default: random ultralight ONNX")
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60])
    parser.add_argument("--source-rate", type=int, default=None, help="recording sample rate (default: the model's)")
    parser.add_argument("--hop-seconds", type=float, default=None, help="default: half a window (50%% overlap)")
    parser.add_argument("--out", help="also write the results as JSON")
    parser.add_argument("--worker", nargs=2, metavar=("ARTIFACT", "RECORDING"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker, args.hop_seconds)))
        return 0

    with tempfile.TemporaryDirectory(prefix="nightscan-longrec-") as folder:
        folder = Path(folder)
        artifact = Path(args.artifact) if args.artifact else export_random_ultralight(folder)
        from nightscan_edge.export.manifest import read_manifest

        spec = read_manifest(artifact)["input"]["spec"]
        rate = args.source_rate or spec["sample_rate"]
        rows = []
        for minutes in args.minutes:
            recording = write_recording(folder / f"{minutes:g}min.wav", minutes, rate)
            command = [sys.executable, __file__, "--worker", str(artifact), str(recording)]
            if args.hop_seconds is not None:
                command += ["--hop-seconds", str(args.hop_seconds)]
            env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
            output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
            rows.append(json.loads(output.strip().splitlines()[-1]))
            recording.unlink()
    hop = args.hop_seconds if args.hop_seconds is not None else spec["clip_samples"] / 2 / spec["sample_rate"]
    print(
        f"model {artifact.name if args.artifact else 'ultralight_audio (random weights) model.onnx'}; "
        f"window {spec['clip_samples'] / spec['sample_rate']:.2f} s at {spec['sample_rate']} Hz, hop {hop:.3f} s; "
        f"recording at {rate} Hz; 1 core, 1 thread"
    )
    # Wall time counts waiting for a busy CPU; CPU time is what the one core actually spent.
    print(
        f"{'audio':>8} {'windows':>8} {'wall s':>8} {'CPU s':>8} {'ms/window':>10} {'x RT wall':>10} {'x RT CPU':>9} "
        f"{'RSS load MB':>12} {'peak RSS MB':>12}"
    )
    for row in rows:
        print(
            f"{row['audio_minutes']:7.0f}m {row['windows']:8d} {row['wall_seconds']:8.2f} {row['cpu_seconds']:8.2f} "
            f"{row['ms_per_window']:10.2f} {row['real_time_factor']:9.0f}x {row['real_time_factor_cpu']:8.0f}x "
            f"{row['rss_after_load_mb']:12.0f} {row['peak_rss_mb']:12.0f}"
        )
    if len(rows) >= 2:
        growth = rows[-1]["peak_rss_mb"] - rows[0]["peak_rss_mb"]
        print(
            f"peak RSS growth {rows[0]['audio_minutes']:.0f} -> {rows[-1]['audio_minutes']:.0f} min: {growth:+.1f} MB"
        )
    slowest = min(row["real_time_factor_cpu"] for row in rows)
    print(
        f"target >= {TARGET_REAL_TIME_FACTOR}x real time on one core: "
        f"{'met' if slowest >= TARGET_REAL_TIME_FACTOR else 'NOT met'} (slowest {slowest:.0f}x by CPU time)"
    )
    if args.out:
        Path(args.out).write_text(
            json.dumps({"spec": spec, "hop_seconds": hop, "source_rate": rate, "results": rows}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
