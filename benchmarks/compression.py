"""Compression figures: baseline vs distilled vs pruned vs distilled+pruned, each in FP32 and INT8 ONNX.

For one modality (``--kind audio``: ultralight_audio taught by wide_resnet_audio on ../shared/data/animal-sounds;
``--kind photo``: mobilenet_v3_small_photo taught by resnet_photo on ../shared/data/cifar10-animals) this
script trains the runs it needs (skipping any that already finished in ``--out``), then exports each to ONNX
FP32 + INT8 through the normal export path and measures size, MACs, 1-thread ONNX Runtime latency, accuracy
and macro-F1 on the held-out test split. It prints a Markdown table and writes ``compression-<kind>.json``.

    python benchmarks/compression.py --kind audio --out runs/compression
    python benchmarks/compression.py --kind photo --out runs/compression --teacher-epochs 8

Targets from issue 8: distillation recovers >= half of the student-teacher accuracy gap; pruning to half the
MACs costs <= 1 point. Both are printed as measured, pass or fail. The schedules default to short CPU-friendly
ones; the figures are only as good as those schedules (say so when quoting them).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

from bench_common import REPO, SHARED_DATA
from nightscan_edge.atomic import write_text_atomic

SETUPS = {
    "audio": {"dataset": "animal-sounds", "student": "ultralight_audio", "teacher": "wide_resnet_audio", "model": {}},
    "photo": {
        "dataset": "cifar10-animals",
        "student": "mobilenet_v3_small_photo",
        "teacher": "resnet_photo",
        "model": {"image_size": 64},
    },
}


VARIANTS = ("teacher", "baseline", "distilled", "pruned", "distilled+pruned")


def data_path(kind: str, out: Path) -> Path:
    """The data set's manifest; cifar10-animals' ``split`` column says 'shared' only, so a path,label copy
    (absolute paths, outside the repo) lets the normal stratified val/test split apply."""
    root = SHARED_DATA / SETUPS[kind]["dataset"]
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        sys.exit(f"error: {manifest} not found; this benchmark needs ../shared/data (or NIGHTSCAN_SHARED_DATA)")
    if kind == "audio":
        return manifest
    copy = out / f"{SETUPS[kind]['dataset']}-manifest.csv"
    with manifest.open(newline="") as source, copy.open("w", newline="") as target:
        writer = csv.writer(target)
        writer.writerow(["path", "label"])
        for row in csv.DictReader(source):
            writer.writerow([str(root / row["path"]), row["label"]])
    return copy


def train_run(name: str, layers: dict, out: Path):
    """Train one run into ``out/name`` unless it already finished there."""
    from nightscan_edge.config import resolve_config
    from nightscan_edge.train import train

    run_dir = out / name
    status = run_dir / "status.json"
    if status.is_file() and json.loads(status.read_text()).get("status") == "done":
        print(f"[{name}] reusing finished run", flush=True)
        return run_dir
    started = time.perf_counter()
    config = resolve_config(layers, {"train": {"runs_dir": str(out), "run_name": name}})
    train(config, progress=False)
    print(f"[{name}] trained in {time.perf_counter() - started:.0f} s", flush=True)
    return run_dir


def prune_run_once(parent: Path, name: str, epochs: int) -> Path:
    from nightscan_edge.prune.run import prune_run

    run_dir = parent.parent / name
    status = run_dir / "status.json"
    if status.is_file() and json.loads(status.read_text()).get("status") == "done":
        print(f"[{name}] reusing finished run", flush=True)
        return run_dir
    if run_dir.exists():
        sys.exit(f"error: {run_dir} holds an unfinished run; remove it and rerun")
    started = time.perf_counter()
    result = prune_run(parent, target_macs=0.5, finetune_epochs=epochs, run_name=name)
    print(
        f"[{name}] pruned to {result.stats.macs_ratio:.0%} MACs + {epochs} fine-tune epochs in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return run_dir


def train_all(kind: str, out: Path, args: argparse.Namespace) -> dict[str, Path]:
    setup = SETUPS[kind]
    common = {
        "data": {
            "path": str(data_path(kind, out)),
            "val_fraction": 0.2,
            "test_fraction": 0.2,
            "cache": "disk",
            "cache_dir": str(out / "cache"),
        },
        "train": {"batch_size": args.batch_size, "scheduler": "cosine", "early_stopping_patience": None, "seed": 42},
    }
    model = setup["model"]

    def layers(model_name: str, epochs: int, **train_extra) -> dict:
        return {
            **common,
            "model": {"name": model_name, **model},
            "train": {**common["train"], "epochs": epochs, **train_extra},
        }

    wanted = set(args.only.split(",")) if args.only else set(VARIANTS)
    unknown = wanted - set(VARIANTS)
    if unknown:
        sys.exit(f"error: unknown variant(s) {', '.join(sorted(unknown))}; known: {', '.join(VARIANTS)}")
    teacher_layers = layers(setup["teacher"], args.teacher_epochs)
    teacher_layers["model"]["options"] = json.loads(args.teacher_options)
    runs = {}
    if "teacher" in wanted or "distilled" in wanted:
        runs["teacher"] = train_run(f"{kind}-teacher", teacher_layers, out)
    if "baseline" in wanted or "pruned" in wanted:
        runs["baseline"] = train_run(f"{kind}-baseline", layers(setup["student"], args.student_epochs), out)
    if "distilled" in wanted or "distilled+pruned" in wanted:
        runs["distilled"] = train_run(
            f"{kind}-distilled",
            layers(setup["student"], args.student_epochs, teacher=str(out / f"{kind}-teacher")),
            out,
        )
    if "pruned" in wanted:
        runs["pruned"] = prune_run_once(runs["baseline"], f"{kind}-baseline-pruned", args.finetune_epochs)
    if "distilled+pruned" in wanted:
        runs["distilled+pruned"] = prune_run_once(runs["distilled"], f"{kind}-distilled-pruned", args.finetune_epochs)
    return runs


def finished_runs(kind: str, out: Path) -> dict[str, Path]:
    names = {
        "teacher": "teacher",
        "baseline": "baseline",
        "distilled": "distilled",
        "pruned": "baseline-pruned",
        "distilled+pruned": "distilled-pruned",
    }
    runs = {}
    for variant, suffix in names.items():
        status = out / f"{kind}-{suffix}" / "status.json"
        if status.is_file() and json.loads(status.read_text()).get("status") == "done":
            runs[variant] = status.parent
    return runs


def pytorch_figures(run_dir: Path) -> dict:
    """Clip-level test accuracy/macro-F1 of the PyTorch model (the engine's report.json), MACs and FP32 size."""
    from nightscan_edge.checkpoint import load_trained_model
    from nightscan_edge.models import measure_complexity

    complexity = measure_complexity(load_trained_model(run_dir).model)
    report = json.loads((run_dir / "report.json").read_text())
    test = report.get("test") or report["val"]
    return {
        "macs": complexity.macs,
        "fp32_mb": complexity.model_size_mb,
        "params": complexity.params,
        "clip_accuracy": test["accuracy"],
        "clip_macro_f1": test["macro_f1"],
        "clip_split": "test" if "test" in report else "val",
        "clips": sum(sum(r) for r in test["confusion_matrix"]),
    }


def measure(run_dir: Path, threads: int, iterations: int) -> list[dict]:
    """FP32 and INT8 ONNX rows for one run: size, MACs, latency (1 thread), test accuracy and macro-F1."""
    import numpy as np

    from nightscan_edge.bench.metrics import classification_scores
    from nightscan_edge.checkpoint import load_trained_model
    from nightscan_edge.data.samples import load_run_samples
    from nightscan_edge.export import export_run
    from nightscan_edge.models import measure_complexity
    from nightscan_edge.runtime import load_runner

    trained = load_trained_model(run_dir)
    macs = measure_complexity(trained.model).macs
    inputs, labels, _ = load_run_samples(run_dir, split="test")
    report = export_run(run_dir, formats=["onnx"], int8=True)
    rows = []
    for artifact_result in report.artifacts:
        if artifact_result.file is None or not (Path(report.out_dir) / artifact_result.file).is_file():
            rows.append(
                {
                    "precision": artifact_result.precision,
                    "status": artifact_result.status,
                    "error": artifact_result.error,
                    "macs": macs,
                }
            )
            continue
        precision, artifact = artifact_result.precision, Path(report.out_dir) / artifact_result.file
        runner = load_runner(artifact, threads=threads)
        probabilities = np.concatenate([runner.predict(inputs[i : i + 32]) for i in range(0, len(inputs), 32)])
        scores = classification_scores(labels, probabilities.argmax(1), trained.labels)
        one = inputs[:1]
        for _ in range(3):
            runner.predict(one)
        timings = []
        for _ in range(iterations):
            started = time.perf_counter()
            runner.predict(one)
            timings.append((time.perf_counter() - started) * 1000)
        rows.append(
            {
                "precision": precision,
                "status": artifact_result.status,
                "size_mb": artifact.stat().st_size / 2**20,
                "macs": macs,
                "latency_ms": float(np.median(timings)),
                "accuracy": float(scores.accuracy),
                "macro_f1": float(scores.macro_f1),
                "test_samples": int(len(labels)),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=sorted(SETUPS), required=True)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "compression")
    parser.add_argument("--teacher-epochs", type=int, default=8)
    parser.add_argument("--student-epochs", type=int, default=12)
    parser.add_argument("--finetune-epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--teacher-options",
        default="{}",
        metavar="JSON",
        help="teacher builder options, e.g. '{\"widths\": [40, 80, 160, 320]}' for a CPU-sized teacher",
    )
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads for latency (default 1)")
    parser.add_argument(
        "--train-threads",
        type=int,
        default=max(1, min(2, os.cpu_count() or 1)),
        help="torch threads for training (default: up to 2); 1 lets two variants train side by side",
    )
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--train-only", action="store_true", help="train/prune the runs, measure nothing")
    parser.add_argument(
        "--only",
        metavar="VARIANTS",
        help="comma-separated subset to train (and what it needs), e.g. baseline,pruned -- lets "
        "independent runs train in parallel processes",
    )
    parser.add_argument(
        "--skip-onnx",
        action="store_true",
        help="only the PyTorch figures (clip-level test accuracy from report.json, MACs, FP32 size)",
    )
    parser.add_argument(
        "--measure-finished",
        action="store_true",
        help="train nothing: measure whichever of the runs already finished in --out",
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.train_threads)
    args.out.mkdir(parents=True, exist_ok=True)
    runs = finished_runs(args.kind, args.out) if args.measure_finished else train_all(args.kind, args.out, args)
    if args.train_only:
        return 0
    results = {
        "kind": args.kind,
        "student": SETUPS[args.kind]["student"],
        "teacher": SETUPS[args.kind]["teacher"],
        "teacher_options": json.loads(args.teacher_options),
        "schedule": {k: getattr(args, k) for k in ("teacher_epochs", "student_epochs", "finetune_epochs")},
        "variants": {},
    }
    for variant, run_dir in runs.items():
        entry = {"run": str(run_dir), **pytorch_figures(run_dir)}
        entry["rows"] = [] if args.skip_onnx else measure(run_dir, args.threads, args.iterations)
        results["variants"][variant] = entry
    print(render(results))
    path = args.out / f"compression-{args.kind}.json"
    write_text_atomic(path, json.dumps(results, indent=2) + "\n")
    print(f"\nwritten {path}")
    return 0


def render(results: dict) -> str:
    lines = [
        f"### {results['kind']}: {results['student']} (teacher {results['teacher']} {results['teacher_options']})",
        f"schedule: {results['schedule']}",
        "",
        "PyTorch, clip level (windows averaged), held-out test split:",
        "",
        "| variant | params | FP32 MB | MMACs | accuracy | macro-F1 | clips |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for variant, entry in results["variants"].items():
        lines.append(
            f"| {variant} | {entry['params']:,} | {entry['fp32_mb']:.2f} | {entry['macs'] / 1e6:.1f} | "
            f"{entry['clip_accuracy']:.1%} | {entry['clip_macro_f1']:.3f} | {entry['clips']} |"
        )
    lines += [
        "",
        "ONNX Runtime, per window, same test split:",
        "",
        "| variant | precision | file MB | MMACs | latency ms (1 thread) | accuracy | macro-F1 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for variant, entry in results["variants"].items():
        for row in entry["rows"]:
            if "accuracy" not in row:
                lines.append(f"| {variant} | {row['precision']} | {row['status']}: {row.get('error')} | | | | |")
                continue
            lines.append(
                f"| {variant} | {row['precision']} | {row['size_mb']:.2f} | {row['macs'] / 1e6:.1f} | "
                f"{row['latency_ms']:.2f} | {row['accuracy']:.1%} | {row['macro_f1']:.3f} |"
                + ("" if row["status"] == "ok" else f" ({row['status']})")
            )
    accuracy = {v: e["clip_accuracy"] for v, e in results["variants"].items()}
    if not {"teacher", "baseline", "distilled"} <= set(accuracy):
        return "\n".join(
            lines + ["", "- distillation target not assessed: teacher, baseline and distilled runs are needed"]
        )
    gap = accuracy["teacher"] - accuracy["baseline"]
    recovered = (accuracy["distilled"] - accuracy["baseline"]) / gap if gap > 0 else float("nan")
    lines += [
        "",
        f"- (clip accuracy) distillation recovers {recovered:.0%} of the {gap * 100:.1f}-point teacher-student gap "
        f"(target >= 50%: {'met' if recovered >= 0.5 else 'not met'})"
        if gap > 0
        else f"- the teacher is not more accurate than the student here ({gap * 100:+.1f} points): no gap to recover",
    ]
    for pruned, parent in (("pruned", "baseline"), ("distilled+pruned", "distilled")):
        if pruned not in accuracy or parent not in accuracy:
            lines.append(f"- {pruned}: not measured (run not finished)")
            continue
        cost = (accuracy[parent] - accuracy[pruned]) * 100
        ratio = results["variants"][pruned]["macs"] / results["variants"][parent]["macs"]
        lines.append(
            f"- {pruned}: {ratio:.0%} of the MACs of {parent}, clip accuracy cost {cost:+.1f} points "
            f"(target <= 1: {'met' if cost <= 1 else 'not met'})"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
