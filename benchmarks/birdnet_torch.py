"""BirdNET's backbone in PyTorch, the route to the phone (issue 24, route 2), measured end to end on real clips.

What it measures, each figure through the project's own commands (``train``, ``prune``, ``export``):

  * parity: the 1024-d embedding of ``birdnet_backbone_audio`` against LiteRT's ``GLOBAL_AVG_POOL`` tensor on N real
    windows of ../shared/data/animal-sounds -- whole model (waveform in), network alone (LiteRT's own spectrogram
    in), and LiteRT against itself under -140 dBFS of added noise (how stable the reference is);
  * sizes of the exported files, FP32 and INT8, unpruned and pruned;
  * test accuracy (per clip, windows averaged) of: birdnet_head (frozen BirdNET in LiteRT + linear head), the
    fine-tuned backbone (PyTorch), the pruned + fine-tuned backbone (PyTorch) and its INT8 LiteRT file;
  * LiteRT latency of one 3 s window at 1 thread.

The split is few_shot.py's (stratified, 30 % test, 15 % validation, seed 0; all pool clips train). The backbone's
head starts from the birdnet_head run's (``--init-from``), so fine-tuning starts where the head ended.

    python benchmarks/birdnet_torch.py --out runs/birdnet_torch            # ~30 CPU-minutes on one core

Writes ``benchmarks/results/birdnet_torch.json`` after every step (a cut-off run keeps what it measured); run folders
under ``--out`` are reused when their report is there.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench_common import (
    RESULTS_DIR,
    SHARED_DATA,
    clip_accuracy,
    command_line,
    machine_summary,
    read_labelled_manifest,
    set_threads_and_seed,
    stratified_split,
    today,
    write_result,
    write_split_manifest,
)

RESULTS = RESULTS_DIR / "birdnet_torch.json"
MODEL = "birdnet_backbone_audio"


def parity(windows: np.ndarray) -> dict[str, Any]:
    """Embedding differences against LiteRT, per window (max over the 1024 values), and LiteRT's own instability."""
    import torch

    from nightscan_edge.models import create_model
    from nightscan_edge.models.birdnet_extractor import get_birdnet

    model = create_model(MODEL, 2).eval()
    birdnet = get_birdnet(1)
    reference = birdnet.embed(windows)
    with torch.no_grad():
        ours = model.embed(model.log_mel(torch.from_numpy(windows))).numpy()
    noise = (1e-7 * np.random.default_rng(2).standard_normal(windows.shape)).astype(np.float32)
    litert_noisy = birdnet.embed(windows + noise)
    whole = np.abs(ours - reference).max(axis=1)
    itself = np.abs(litert_noisy - reference).max(axis=1)
    dithered = windows + (1e-4 * np.random.default_rng(3).standard_normal(windows.shape)).astype(np.float32)
    with torch.no_grad():
        ours_dithered = model.embed(model.log_mel(torch.from_numpy(dithered))).numpy()
    dither = np.abs(ours_dithered - birdnet.embed(dithered)).max(axis=1)

    spectrograms, from_litert = birdnet.spectrograms(windows)
    with torch.no_grad():
        network = np.abs(model.embed(torch.from_numpy(spectrograms)).numpy() - from_litert).max(axis=1)
    broadband_windows = generated_windows(8)
    with torch.no_grad():
        ours_broadband = model.embed(model.log_mel(torch.from_numpy(broadband_windows))).numpy()
    broadband = np.abs(ours_broadband - birdnet.embed(broadband_windows)).max(axis=1)

    def summary(values: np.ndarray) -> dict[str, float]:
        return {
            "max": float(values.max()),
            "median": float(np.median(values)),
            "under_1e-4": int((values < 1e-4).sum()),
        }

    return {
        "windows": len(windows),
        "whole_model_vs_litert": summary(whole),
        "litert_vs_itself_with_minus140dbfs_noise": summary(itself),
        "whole_model_vs_litert_with_minus80dbfs_noise_floor": summary(dither),
        "network_vs_litert_on_its_spectrogram": summary(network),
        "whole_model_vs_litert_broadband": summary(broadband),
        "embedding_max_value": float(reference.max()),
    }


def generated_windows(count: int) -> np.ndarray:
    """Broadband windows (a tone sweep over white noise): every mel band holds signal."""
    rng = np.random.default_rng(0)
    t = np.arange(144_000) / 48_000
    waves = [0.3 * np.sin(2 * np.pi * (1500 + 1500 * i) * t * (1 + t / 6)) for i in range(count)]
    return np.stack([w + 0.02 * rng.standard_normal(t.size) for w in waves]).astype(np.float32)


def real_windows(root: Path, count: int) -> np.ndarray:
    from nightscan_edge.audio import decode_audio
    from nightscan_edge.birdnet.embeddings import birdnet_windows

    rows = list(csv.DictReader((root / "manifest.csv").open()))
    picked = np.random.default_rng(1).choice(len(rows), count, replace=False)
    return np.concatenate([birdnet_windows(decode_audio(root / rows[i]["path"], 48000))[:1] for i in picked]).astype(
        np.float32
    )


def train_once(layers: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    from nightscan_edge.config import resolve_config
    from nightscan_edge.train import train

    if not (run_dir / "report.json").is_file():
        started = time.perf_counter()
        train(resolve_config(layers), run_dir=run_dir, progress=False)
        (run_dir / "bench_seconds.txt").write_text(f"{time.perf_counter() - started:.1f}\n")
    return run_figures(run_dir)


def run_figures(run_dir: Path) -> dict[str, Any]:
    report = json.loads((run_dir / "report.json").read_text())
    seconds = run_dir / "bench_seconds.txt"
    return {
        "run": str(run_dir),
        "test_accuracy": report["test"]["accuracy"],
        "test_macro_f1": report["test"]["macro_f1"],
        "val_accuracy": report["val"]["accuracy"],
        "seconds": float(seconds.read_text()) if seconds.is_file() else None,
    }


def export_figures(run_dir: Path, formats: list[str]) -> dict[str, Any]:
    """Export every format with INT8; sizes, parity and the gate's verdict per file."""
    from nightscan_edge.export import export_run

    out = run_dir / "exports" / "bench"
    report = export_run(run_dir, formats=formats, int8=True, out_dir=out)
    files = {
        f"{artifact.format}/{artifact.precision}": {
            "status": artifact.status,
            "size_mb": None if artifact.size_bytes is None else round(artifact.size_bytes / 1e6, 3),
            "file": artifact.file,
            "parity": artifact.parity,
            "gate": artifact.gate,
            "error": artifact.error,
        }
        for artifact in report.artifacts
    }
    return {"export_dir": str(out), "files": files}


def torch_test_figures(run_dir: Path) -> dict[str, Any]:
    """Per-clip test accuracy of a run's best checkpoint in PyTorch (for a run whose final report was cut off)."""
    import torch

    from nightscan_edge.checkpoint import load_trained_model
    from nightscan_edge.data.samples import load_run_samples

    model = load_trained_model(run_dir).model.eval()
    inputs, labels, sources = load_run_samples(run_dir, split="test")
    batches = []
    with torch.no_grad():
        for start in range(0, len(inputs), 8):
            batches.append(torch.softmax(model.forward_waveform(torch.from_numpy(inputs[start : start + 8])), -1))
    correct = clip_accuracy(torch.cat(batches).numpy(), labels, sources)
    return {"run": str(run_dir), "test_clips": len(correct), "test_accuracy": float(np.mean(correct))}


def litert_test_figures(tflite: Path, run_dir: Path) -> dict[str, Any]:
    """Per-clip test accuracy of an exported LiteRT file (windows averaged per clip) and its 1-thread latency."""
    from nightscan_edge.data.samples import load_run_samples
    from nightscan_edge.runtime import load_runner

    inputs, labels, sources = load_run_samples(run_dir, split="test")
    runner = load_runner(tflite, threads=1)
    probabilities = np.concatenate([runner.predict(inputs[i : i + 1]) for i in range(len(inputs))])
    correct = clip_accuracy(probabilities, labels, sources)
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        runner.predict(inputs[:1])
        timings.append((time.perf_counter() - started) * 1000)
    return {
        "file": str(tflite),
        "size_mb": round(tflite.stat().st_size / 1024 / 1024, 3),
        "test_clips": len(correct),
        "test_accuracy": float(np.mean(correct)),
        "latency_ms_1_thread_median": round(statistics.median(timings[5:]), 1),
    }


SETUP = (
    "animal-sounds (7 classes), few_shot.py's split: stratified, 30 % test (154 clips), 15 % validation, every other "
    "clip trains; accuracy per clip (its windows' probabilities averaged), checkpoint picked on validation. The "
    "backbone's head starts from the birdnet_head run's; fine-tune {epochs} epochs (lr {lr:g}, batch 16, cosine); "
    "prune to {target:g} MB FP32 (front-end kernels included) and {prune_epochs} self-distilled epoch(s). FP32 MB "
    "is the exported LiteRT file where there is one, else the PyTorch weights."
)


def _size(details: dict[str, Any], name: str, key: str) -> float | None:
    file = details.get(f"export_{name}", {}).get("files", {}).get(key, {})
    return file.get("size_mb")


def table_rows(details: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model: how it runs, its size, its test accuracy and, for the exported files, LiteRT's."""
    rows = []
    head = details.get("birdnet_head")
    if head:
        rows.append(
            {
                "model": "birdnet_head (BirdNET in LiteRT + linear head)",
                "params": "6.4 M + head",
                "FP32 MB": 51.7,
                "INT8 MB": "",
                "test accuracy": round(head["test_accuracy"], 3),
                "test macro-F1": round(head["test_macro_f1"], 3),
                "LiteRT INT8 accuracy": "",
                "LiteRT ms (1 thread)": "",
            }
        )
    stats = details.get("prune_stats", {})
    params = {"finetuned": stats.get("params_before"), "pruned": stats.get("params_after")}
    torch_mb = {"finetuned": stats.get("size_mb_before"), "pruned": stats.get("size_mb_after")}
    for name, label in (("finetuned", "birdnet_backbone_audio, fine-tuned"), ("pruned", "pruned + fine-tuned")):
        run = details.get(name)
        if not run:
            continue
        int8 = details.get(f"litert_{name}_int8", {})
        fp32 = details.get(f"litert_{name}_fp32", {})
        rows.append(
            {
                "model": label,
                "params": f"{params[name] / 1e6:.2f} M" if params[name] else "",
                "FP32 MB": _size(details, name, "tflite/fp32") or torch_mb[name] or "",
                "INT8 MB": _size(details, name, "tflite/int8") or "",
                "test accuracy": round(run["test_accuracy"], 3),
                "test macro-F1": round(run["test_macro_f1"], 3) if "test_macro_f1" in run else "",
                "LiteRT INT8 accuracy": round(int8["test_accuracy"], 3) if int8 else "",
                "LiteRT ms (1 thread)": _latencies(fp32, int8),
            }
        )
    return rows


def _latencies(fp32: dict[str, Any], int8: dict[str, Any]) -> str:
    if not fp32 and not int8:
        return ""
    key = "latency_ms_1_thread_median"
    return f"{fp32.get(key, '?')} FP32 / {int8.get(key, '?')} INT8"


def notes(details: dict[str, Any]) -> list[str]:
    lines = []
    parity_figures = details.get("parity")
    if parity_figures:
        whole = parity_figures["whole_model_vs_litert"]
        itself = parity_figures["litert_vs_itself_with_minus140dbfs_noise"]
        floor = parity_figures["whole_model_vs_litert_with_minus80dbfs_noise_floor"]
        network = parity_figures.get("network_vs_litert_on_its_spectrogram")
        broadband = parity_figures.get("whole_model_vs_litert_broadband")
        windows, top = parity_figures["windows"], parity_figures["embedding_max_value"]
        text = (
            "Embedding parity against LiteRT (max abs difference of the 1024 values, per window; "
            f"{windows} real windows; embedding values reach {top:.2f}): whole model, waveform in: median "
            f"{whole['median']:.1e}, max {whole['max']:.1e}"
        )
        if broadband:
            text += f"; on generated broadband audio: max {broadband['max']:.1e}"
        if network:
            text += f"; the network alone, fed LiteRT's own spectrogram: max {network['max']:.1e}"
        text += (
            f". LiteRT against itself with -140 dBFS of noise added: median {itself['median']:.1e}, max "
            f"{itself['max']:.1e}. With a -80 dBFS noise floor in every band (the same input to both): median "
            f"{floor['median']:.1e}, max {floor['max']:.1e} ({floor['under_1e-4']} of {windows} under 1e-4)."
        )
        lines.append(text)
    stats = details.get("prune_stats")
    if stats:
        lines.append(
            f"Pruning: {stats['params_before']:,} -> {stats['params_after']:,} parameters "
            f"({1 - stats['params_after'] / stats['params_before']:.0%} removed), FP32 "
            f"{stats['size_mb_before']:.1f} -> {stats['size_mb_after']:.1f} MB, MACs x{stats['macs_ratio']:.2f}, "
            f"{stats['channel_ratio']:.0%} of every layer's channels."
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "animal-sounds")
    parser.add_argument("--out", type=Path, default=Path("runs/birdnet_torch"))
    parser.add_argument("--parity-windows", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=2, help="fine-tune epochs of the backbone")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--target-size-mb", type=float, default=7.5, help="prune's FP32 size target")
    parser.add_argument("--prune-epochs", type=int, default=3, help="self-distilled fine-tune epochs after pruning")
    parser.add_argument("--formats", nargs="+", default=["tflite", "onnx", "coreml", "executorch"])
    parser.add_argument("--steps", nargs="+", default=["parity", "head", "finetune", "prune", "export", "litert"])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    set_threads_and_seed(1)
    args.out.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    # every step's raw figures; a rerun step replaces its own (a first draft of this file kept them under "figures")
    figures: dict[str, Any] = previous.get("details") or (
        previous["figures"] if isinstance(previous.get("figures"), dict) else {}
    )
    result: dict[str, Any] = {
        "title": "BirdNET V2.4 in PyTorch: parity, fine-tune, prune, INT8 (issue 24, route 2)",
        "date": today(),
        "machine": machine_summary(1),
        "command": command_line(argv, __file__),
        "setup": SETUP.format(
            epochs=args.epochs, lr=args.lr, target=args.target_size_mb, prune_epochs=args.prune_epochs
        ),
    }

    def save() -> None:
        result.update(figures=table_rows(figures), notes=notes(figures), details=figures)
        if not args.no_write:
            write_result(RESULTS, result)
        print(json.dumps(result["figures"], indent=2))

    pool, val, test = stratified_split(read_labelled_manifest(args.data), test_fraction=0.3, val_fraction=0.15, seed=0)
    manifest = write_split_manifest(args.out / "manifest.csv", pool, val, test)
    data = {"path": str(manifest), "cache_dir": str(args.out / "cache")}
    figures["split"] = {"train": len(pool), "val": len(val), "test": len(test), "seed": 0}
    head_run, tuned_run = args.out / "head", args.out / "finetuned"
    pruned_run = args.out / "pruned"
    if "parity" in args.steps:
        figures["parity"] = parity(real_windows(args.data, args.parity_windows))
        save()
    if "head" in args.steps:
        figures["birdnet_head"] = train_once({"data": data, "model": {"name": "birdnet_head"}}, head_run)
        save()
    if "finetune" in args.steps:
        layers = {
            "data": data,
            "model": {"name": MODEL, "init_from": str(head_run)},
            "train": {
                "epochs": args.epochs,
                "batch_size": 16,
                "lr": args.lr,
                "scheduler": "cosine",
                "early_stopping_patience": None,
                "seed": 0,
            },
        }
        if (tuned_run / "best.ckpt").is_file() and not (tuned_run / "report.json").is_file():
            figures["finetuned"] = torch_test_figures(tuned_run)  # a run cut off in its final report
        else:
            figures["finetuned"] = train_once(layers, tuned_run)
        save()
    if "prune" in args.steps:
        from nightscan_edge.prune.run import PRUNE_RECORD, prune_run

        if not (pruned_run / "report.json").is_file():
            started = time.perf_counter()
            prune_run(
                tuned_run,
                target_macs=None,
                target_size_mb=args.target_size_mb,
                finetune_epochs=args.prune_epochs,
                run_name=pruned_run.name,
            )
            (pruned_run / "bench_seconds.txt").write_text(f"{time.perf_counter() - started:.1f}\n")
        figures["prune_stats"] = json.loads((pruned_run / PRUNE_RECORD).read_text())
        figures["pruned"] = run_figures(pruned_run)
        save()
    if "export" in args.steps:
        for name, run_dir in (("finetuned", tuned_run), ("pruned", pruned_run)):
            figures[f"export_{name}"] = export_figures(run_dir, args.formats)
            save()
    if "litert" in args.steps:
        for name, run_dir in (("finetuned", tuned_run), ("pruned", pruned_run)):
            folder = run_dir / "exports" / "bench"
            for precision, file in (("fp32", "model.tflite"), ("int8", "model_int8.tflite")):
                if (folder / file).is_file():
                    figures[f"litert_{name}_{precision}"] = litert_test_figures(folder / file, run_dir)
                    save()
    save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
