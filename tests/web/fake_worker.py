"""A stand-in for ``python -m nightscan_edge.cli`` that follows the documented worker contract quickly.

It writes ``events.jsonl`` and ``status.json`` exactly as docs/architecture.md describes, saves a
``last.ckpt`` marker every epoch, honours SIGTERM like the real trainer (checkpoint, status ``cancelled``)
and resumes from its marker, so the web's job handling is tested without training a network.
Behaviour knobs (environment): FAKE_BATCH_SECONDS, FAKE_FAIL=1.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import zipfile
from pathlib import Path

BATCHES = 4
stop_requested = False


def _on_term(signum, frame):
    global stop_requested
    stop_requested = True


def emit(run_dir: Path, **event) -> None:
    with open(run_dir / "events.jsonl", "a") as handle:
        handle.write(json.dumps({**event, "time": time.time()}) + "\n")
        handle.flush()


def status(run_dir: Path, value: str, **fields) -> None:
    tmp = run_dir / "status.json.tmp"
    tmp.write_text(json.dumps({"status": value, "updated": time.time(), **fields}))
    tmp.replace(run_dir / "status.json")


def option(argv: list[str], flag: str, default=None):
    return argv[argv.index(flag) + 1] if flag in argv else default


def train(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _on_term)
    resume = option(argv, "--resume")
    run_dir = Path(resume or option(argv, "--run-dir"))
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        state = json.loads((run_dir / "last.ckpt").read_text())
        epochs, start_epoch = state["epochs"], state["epoch"]
    else:
        sets = dict(s.split("=", 1) for s in [argv[i + 1] for i, a in enumerate(argv) if a == "--set"])
        epochs, start_epoch = int(sets.get("train.epochs", 3)), 0
    labels = ["bat", "owl"]
    status(run_dir, "running", pid=os.getpid())
    emit(
        run_dir,
        type="run_start",
        run_id=run_dir.name,
        model=option(argv, "--model", "ultralight_audio"),
        labels=labels,
        epochs=epochs,
        batches_per_epoch=BATCHES,
        resumed_from_epoch=start_epoch + 1 if resume else None,
    )
    if os.environ.get("FAKE_FAIL"):
        emit(run_dir, type="run_end", status="failed", best_val_acc=None, best_epoch=None, error="fake failure")
        status(run_dir, "failed", error="fake failure: the data set is unusable")
        print("error: fake failure", file=sys.stderr)
        return 1
    pause = float(os.environ.get("FAKE_BATCH_SECONDS", "0.05"))
    for epoch in range(start_epoch + 1, epochs + 1):  # counted from 1, like the real worker
        for batch in range(1, BATCHES + 1):
            time.sleep(pause)
            emit(
                run_dir,
                type="batch_end",
                epoch=epoch,
                batch=batch,
                batches=BATCHES,
                loss=1.0 / (epoch + batch),
                samples_per_s=100.0,
            )
            if stop_requested:
                (run_dir / "last.ckpt").write_text(json.dumps({"epoch": epoch - 1, "epochs": epochs}))
                emit(run_dir, type="run_end", status="cancelled", best_val_acc=None, best_epoch=None)
                status(run_dir, "cancelled")
                return 0
        emit(
            run_dir,
            type="epoch_end",
            epoch=epoch,
            epochs=epochs,
            train_loss=1.0 / epoch,
            train_acc=0.5 + epoch / (2 * epochs),
            val_loss=1.1 / epoch,
            val_acc=0.5 + epoch / (2 * epochs),
            val_macro_f1=0.5,
            lr=0.001,
            seconds=pause * BATCHES,
        )
        with open(run_dir / "metrics.csv", "a") as metrics:  # the real worker's columns, epochs from 1
            if metrics.tell() == 0:
                metrics.write("epoch,train_loss,train_acc,val_loss,val_acc,val_macro_f1,lr,seconds\n")
            metrics.write(
                f"{epoch},{1.0 / epoch},{0.5 + epoch / (2 * epochs)},{1.1 / epoch},"
                f"{0.5 + epoch / (2 * epochs)},0.5,0.001,{pause * BATCHES}\n"
            )
        (run_dir / "last.ckpt").write_text(json.dumps({"epoch": epoch, "epochs": epochs}))
    (run_dir / "best.ckpt").write_text("fake weights")
    (run_dir / "labels.txt").write_text("\n".join(labels) + "\n")
    (run_dir / "report.json").write_text(
        json.dumps(
            {
                "labels": labels,
                "accuracy": 0.75,
                "macro_f1": 0.7,
                "confusion_matrix": [[3, 1], [1, 3]],
                "per_class": {
                    "bat": {"precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4},
                    "owl": {"precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4},
                },
            }
        )
    )
    emit(run_dir, type="run_end", status="done", best_val_acc=0.75, best_epoch=epochs)
    status(run_dir, "done", best_val_acc=0.75)
    return 0


def export(argv: list[str]) -> int:
    out = Path(option(argv, "--out"))
    out.mkdir(parents=True)
    for fmt in option(argv, "--formats").split(","):
        (out / f"model.{ {'onnx': 'onnx', 'tflite': 'tflite'}.get(fmt, fmt) }").write_bytes(b"fake " + fmt.encode())
    (out / "manifest.json").write_text(json.dumps({"format": "onnx", "run_id": Path(argv[1]).name}))
    # the real command's report: an FP32 file with parity, an INT8 one the quality gate rejected
    parity = {"samples": 40, "max_abs_diff": 2e-7, "top1_agreement": 1.0, "inputs": "validation split"}
    gate = {"passed": False, "accuracy_drop": 4.0, "reason": "accuracy dropped 4.0 points (limit 1)"}
    artifacts = [
        {
            "format": "onnx",
            "precision": "fp32",
            "status": "ok",
            "file": "model.onnx",
            "size_bytes": 900_000,
            "parity": parity,
            "gate": None,
            "error": None,
        },
        {
            "format": "onnx",
            "precision": "int8",
            "status": "rejected",
            "file": "rejected/model_int8.onnx",
            "size_bytes": 300_000,
            "parity": parity,
            "gate": gate,
            "error": "INT8 quality gate failed",
        },
    ]
    calibration = {
        "recommended_threshold": 0.62,
        "edge_share_at_threshold": 0.71,
        "accuracy_at_threshold": 0.95,
        "target_accuracy": 0.95,
        "samples": 40,
        "warnings": [],
    }
    (out / "export_report.json").write_text(
        json.dumps(
            {
                "export_id": out.name,
                "run_id": Path(argv[1]).name,
                "samples": "validation split (40 inputs)",
                "temperature": 1.4,
                "artifacts": artifacts,
                "calibration": calibration,
                "ok": True,
            }
        )
    )
    with zipfile.ZipFile(out / "bundle.zip", "w") as bundle:
        bundle.writestr("manifest.json", "{}")
    return 0


def write_bench(out: Path) -> None:
    """A bench.json the real reader (``BenchResult.read``) accepts, one timed ONNX file, and a bench.png;
    written as plain JSON so the fake stays instant (importing the bench package loads torch)."""
    timed = {
        "name": "model.onnx",
        "format": "onnx",
        "precision": "fp32",
        "path": "model.onnx",
        "size_mb": 0.9,
        "status": "ok",
        "accuracy": 0.9,
        "latency": [{"threads": 1, "p50_ms": 4.2, "p95_ms": 5.1, "max_ms": 6.0, "mean_ms": 4.3, "iterations": 10}],
    }
    result = {
        "schema_version": 1,
        "created": "2026-11-30T00:00:00+00:00",
        "source": "fake",
        "model_name": "ultralight_audio",
        "input_kind": "audio",
        "labels": ["bat", "owl"],
        "run_id": "fake",
        "model_flops": 1,
        "frontend_flops": 1,
        "flops_note": "fake",
        "threads": [1],
        "warmup": 1,
        "iterations": 10,
        "host": {
            "cpu": "cpu",
            "logical_cores": 2,
            "usable_cores": 2,
            "platform": "linux",
            "torch_version": "2",
            "gemm_gflops": {"1": 50.0},
        },
        "evaluation_set": {"source": "fake", "samples": 200},
        "artifacts": [timed],
        "device_estimates": [],
        "target": {"latency_ms": [50.0, 150.0], "size_mb": [1.0, 3.0], "accuracy_pct": [85.0, 90.0]},
    }
    (out / "bench.json").write_text(json.dumps(result))
    # a 1x1 white PNG
    (out / "bench.png").write_bytes(
        bytes.fromhex(
            "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8ffff3f0005fe02fe"
            "a7d6a4b80000000049454e44ae426082"
        )
    )


def main(argv: list[str]) -> int:
    command = argv[0]
    if command == "train":
        return train(argv)
    if command == "export":
        return export(argv)
    if command == "bench":
        out = Path(option(argv, "--out"))
        out.mkdir(parents=True)
        write_bench(out)
        return 0
    if argv[:2] == ["data", "synth"]:
        import numpy as np
        import soundfile

        for index, label in enumerate(("synthetic_tone", "synthetic_chirp", "synthetic_clicks", "synthetic_hum")):
            for clip in range(3):
                path = Path(argv[2]) / label / f"{label}_{clip}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                tone = np.sin(np.arange(8000) * (index + 1) * 0.05 + clip).astype(np.float32)
                soundfile.write(str(path), tone, 8000)
        return 0
    print(f"fake worker: unknown command {command}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
