"""EfficientNet-Lite0 fine-tuned with configs/pretrained-photos.yaml: accuracy (colour and grey), training CPU time,
its INT8 LiteRT file against the 8 MB photo budget, and latency against MobileNetV3-Small at the same input size.

Run after training (the run folder and the ``/usr/bin/time -v`` log of its ``train`` command):

    OMP_NUM_THREADS=1 /usr/bin/time -v nightscan-edge train --data ../shared/data/cifar10-animals \\
        --model efficientnet_lite0_photo --config configs/pretrained-photos.yaml --run-dir RUN \\
        --no-progress 2> train.log
    nice python benchmarks/photo_pretrained.py --run RUN --train-log train.log

The trained run is exported to LiteRT FP32 + INT8 (calibrated and gated on its validation photos, as ``export``
does); MobileNetV3-Small is an untrained stand-in at the run's input size (latency and size do not depend on the
weights' values) exported the same way. Both are timed by ``run_bench`` at batch 1 in LiteRT, one thread.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_common import RESULTS_DIR, command_line, machine_summary, set_threads_and_seed, today, write_result
from nightscan_edge.bench import BenchOptions, run_bench
from nightscan_edge.checkpoint import load_trained_model, save_standalone_checkpoint
from nightscan_edge.export import export_run
from nightscan_edge.models import create_model
from nightscan_edge.run_folder import RunFolder

PHOTO_BUDGET_MB = 8.0
STAND_IN = "mobilenet_v3_small_photo"


def training_cpu_minutes(log: Path) -> float:
    """User + system CPU of the ``train`` command, from GNU time's ``-v`` report."""
    text = log.read_text(errors="replace")
    seconds = [float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([0-9.]+)", text)]
    if len(seconds) != 2:
        sys.exit(f"error: {log} has no GNU time -v report (User/System time); run train under /usr/bin/time -v")
    return sum(seconds) / 60


def litert_figures(run_dir: Path, options: BenchOptions, threads: int) -> dict[str, Any]:
    """Export ``run_dir`` to LiteRT FP32 + INT8, then time both: sizes, p50 latency, the INT8 gate's verdict."""
    report = export_run(run_dir, ["tflite"], int8=True)
    result = run_bench(run_dir, options, progress=False)
    figures: dict[str, Any] = {}
    for precision in ("fp32", "int8"):
        artifact = report.artifact("tflite", precision)
        measured = next((a for a in result.artifacts if a.format == "tflite" and a.precision == precision), None)
        stats = measured.latency_at(threads) if measured is not None and measured.status == "ok" else None
        figures[precision] = {
            "status": artifact.status,
            "size_mb": round(measured.size_mb, 2) if measured is not None and measured.size_mb else None,
            "p50_ms": round(stats.p50_ms, 1) if stats else None,
            "accuracy": round(measured.accuracy, 4) if measured is not None and measured.accuracy is not None else None,
            "gate": artifact.gate,
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="the trained efficientnet_lite0_photo run folder")
    cpu = parser.add_mutually_exclusive_group(required=True)
    cpu.add_argument("--train-log", type=Path, help="GNU time -v output of its train command")
    cpu.add_argument(
        "--train-cpu-seconds", type=float, help="its training CPU seconds, measured elsewhere (photo_few_shot's cpu_s)"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "photo_pretrained.json")
    args = parser.parse_args()
    set_threads_and_seed(args.threads)
    folder = RunFolder(args.run)
    report, config = folder.read_report(), folder.read_config()
    if report is None or "grey_accuracy" not in report:
        sys.exit(f"error: {args.run} has no finished report.json with grey accuracy; train it first")
    trained = load_trained_model(args.run)
    options = BenchOptions(threads=(args.threads,), warmup=5, iterations=args.iterations, throughput_iterations=1)
    teacher = litert_figures(args.run, options, args.threads)
    with tempfile.TemporaryDirectory(prefix="nightscan-photo-stand-in-") as root:
        stand_in_dir = Path(root) / STAND_IN
        model = create_model(STAND_IN, len(trained.labels), spec=trained.spec)
        save_standalone_checkpoint(stand_in_dir / "best.ckpt", model, trained.labels, run_id=f"untrained-{STAND_IN}")
        student = litert_figures(stand_in_dir, options, args.threads)
    size = trained.spec.image_size
    train = config.train
    counts = report["counts"]
    split = f"{sum(counts['train'].values())} train / {report['val']['samples']} validation" + (
        f" / {report['test']['samples']} test" if "test" in report else ""
    )
    # A run with a test split (photo_few_shot.py's) is judged on it; the checkpoint was picked on validation.
    held_out = (
        {
            "test accuracy %": round(100 * report["test"]["accuracy"], 1),
            "grey test accuracy %": round(100 * report["test_grey"]["accuracy"], 1) if "test_grey" in report else None,
            "test macro-F1": round(report["test"]["macro_f1"], 3),
        }
        if "test" in report
        else {}
    )
    result = {
        "title": "EfficientNet-Lite0 (ImageNet-1k) fine-tuned with configs/pretrained-photos.yaml",
        "date": today(),
        "machine": machine_summary(args.threads),
        "command": command_line(),
        "setup": (
            f"cifar10-animals, all photos ({report['split_method']}: {split}), "
            f"{size} px, {train.epochs} epochs ({train.freeze_backbone_epochs} frozen), seed {train.seed}, "
            "one torch thread; fine-tuned with configs/pretrained-photos.yaml (`nightscan-edge train --config`, or "
            "benchmarks/photo_few_shot.py's 'finetuned' row at the size and epochs stated); LiteRT latency at "
            f"batch 1, {args.threads} thread, p50 of "
            f"{args.iterations}; MobileNetV3-Small untrained at the same input size"
        ),
        "figures": [
            {
                "model": f"efficientnet_lite0_photo ({size} px)",
                "val accuracy %": round(100 * report["accuracy"], 1),
                "grey val accuracy %": round(100 * report["grey_accuracy"], 1),
                "val macro-F1": round(report["macro_f1"], 3),
                **held_out,
                "training CPU min": round(
                    training_cpu_minutes(args.train_log) if args.train_log else args.train_cpu_seconds / 60, 1
                ),
                "LiteRT FP32 MB": teacher["fp32"]["size_mb"],
                "LiteRT INT8 MB": teacher["int8"]["size_mb"],
                # no INT8 file when the gate rejected it: nothing to hold against the budget
                "INT8 < 8 MB": None if not teacher["int8"]["size_mb"] else teacher["int8"]["size_mb"] < PHOTO_BUDGET_MB,
                "INT8 gate": teacher["int8"]["status"],
                "LiteRT FP32 p50 ms": teacher["fp32"]["p50_ms"],
                "LiteRT INT8 p50 ms": teacher["int8"]["p50_ms"],
            },
            {
                "model": f"{STAND_IN} ({size} px, untrained stand-in)",
                "LiteRT FP32 MB": student["fp32"]["size_mb"],
                "LiteRT INT8 MB": student["int8"]["size_mb"],
                "LiteRT FP32 p50 ms": student["fp32"]["p50_ms"],
                "LiteRT INT8 p50 ms": student["int8"]["p50_ms"],
            },
        ],
        "int8_gate": teacher["int8"]["gate"],
        "run": str(args.run),
    }
    print(write_result(args.out, result))


if __name__ == "__main__":
    main()
