"""Few-shot learning curves: what BirdNET's pretrained knowledge buys when labelled clips are few (issue 15).

On ../shared/data/animal-sounds (7 classes, no recordist groups in its manifest, so splits are stratified):
a fixed test set (30 %) and validation set (15 %) are held out once; from the rest (the pool) each run trains on
K clips per class (K = 5, 10, 20, and all; a class with fewer than K in the pool gives all it has), over several
seeds. Variants, each trained by the normal ``train`` path into its own run folder:

  * ``scratch``      ultralight_audio from scratch
  * ``head``         birdnet_head (frozen BirdNET V2.4 + linear head) on the same K clips
  * ``distilled``    ultralight_audio with ``--teacher`` = that head run
  * ``distilled+u``  the same plus ``--unlabeled`` = the pool clips not in the K (labels hidden)

Accuracy and macro-F1 are on the test split (the checkpoint is picked on validation, never on test); wall time is
per run. BirdNET embeddings and the teacher's grid scores are cached once per file in ``--cache-dir`` and reused
by every later run and seed (the JSON records how many windows each run computed).

The ``--background`` part measures false detections per hour on held-back ambient audio for birdnet_head with
and without a background class, at equal recall on the test calls. The shared data holds no ambient night
recordings, so unless ``--ambient DIR`` is given the ambient audio is SYNTHETIC (wind-like modulated brown noise,
rain-like impulses, mains hum, at several levels), and the JSON says so.

    python benchmarks/few_shot.py --out runs/few_shot --seeds 0 1 --epochs 12

Writes ``benchmarks/results/few_shot.json`` (date, machine, command) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NIGHTSCAN_SHARED_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "benchmarks" / "results" / "few_shot.json"
VARIANTS = ("scratch", "head", "distilled", "distilled+u")


def read_manifest(root: Path) -> list[tuple[str, str]]:
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        sys.exit(f"error: {manifest} not found; this benchmark needs ../shared/data (or NIGHTSCAN_SHARED_DATA)")
    with manifest.open(newline="") as handle:
        return [(str((root / row["path"]).resolve()), row["label"]) for row in csv.DictReader(handle)]


def fixed_split(items: list[tuple[str, str]], seed: int = 0) -> tuple[list, list, list]:
    """Stratified pool / val (15 %) / test (30 %), the same for every run."""
    rng = np.random.default_rng(seed)
    pool, val, test = [], [], []
    for label in sorted({label for _, label in items}):
        members = [item for item in items if item[1] == label]
        order = rng.permutation(len(members))
        n_test, n_val = max(1, round(0.3 * len(members))), max(1, round(0.15 * len(members)))
        test += [members[i] for i in order[:n_test]]
        val += [members[i] for i in order[n_test : n_test + n_val]]
        pool += [members[i] for i in order[n_test + n_val :]]
    return pool, val, test


def sample_k(pool: list, k: int | None, seed: int) -> list:
    rng = np.random.default_rng([seed, k or 0])
    chosen = []
    for label in sorted({label for _, label in pool}):
        members = [item for item in pool if item[1] == label]
        take = len(members) if k is None else min(k, len(members))
        chosen += [members[i] for i in rng.permutation(len(members))[:take]]
    return chosen


def write_manifest(path: Path, train: list, val: list, test: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "split"])
        for split, items in (("train", train), ("val", val), ("test", test)):
            writer.writerows([p, label, split] for p, label in items)
    return path


def link_folder(folder: Path, items: list) -> Path:
    """The unused clips as a folder of links (labels hidden): what ``--unlabeled`` takes."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, (path, _) in enumerate(items):
        link = folder / f"{index:04d}{Path(path).suffix}"
        if not link.exists():
            link.symlink_to(path)
    return folder


def synthetic_ambient(folder: Path, seconds: float, count: int, seed: int) -> Path:
    """SYNTHETIC night ambience: modulated brown noise (wind), sparse impulses (rain drips), 50 Hz hum."""
    import soundfile

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rate = 22050
    for index in range(count):
        n = int(seconds * rate)
        brown = np.cumsum(rng.standard_normal(n))
        brown -= np.convolve(brown, np.ones(2048) / 2048, mode="same")
        brown /= np.abs(brown).max() + 1e-9
        wind = brown * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * np.arange(n) / rate))
        drips = np.zeros(n)
        drips[rng.integers(0, n, size=int(seconds * rng.uniform(0.5, 4)))] = rng.uniform(0.2, 1.0)
        drips = np.convolve(drips, np.exp(-np.arange(200) / 30.0) * rng.standard_normal(200), mode="same")
        hum = 0.05 * np.sin(2 * np.pi * 50 * np.arange(n) / rate)
        level = 10 ** (rng.uniform(-40, -15) / 20)
        signal = level * (wind + 0.5 * drips + hum)
        soundfile.write(str(folder / f"ambient_{index:02d}.wav"), signal.astype(np.float32), rate)
    return folder


def train_run(config_layers: dict, run_dir: Path) -> dict:
    from nightscan_edge.config import resolve_config
    from nightscan_edge.train import train

    report_path = run_dir / "report.json"
    if report_path.is_file():  # finished earlier: reuse (the JSON says so)
        report = json.loads(report_path.read_text())
        return {"run": str(run_dir), "reused": True, **_figures(report), "seconds": report.get("bench_seconds")}
    started = time.perf_counter()
    result = train(resolve_config(config_layers), run_dir=run_dir, progress=False)
    seconds = time.perf_counter() - started
    report = json.loads(report_path.read_text())
    report["bench_seconds"] = seconds
    report_path.write_text(json.dumps(report, indent=2))
    return {"run": str(run_dir), "reused": False, "status": result.status, **_figures(report), "seconds": seconds}


def _figures(report: dict) -> dict:
    test = report.get("test") or report["val"]
    return {"accuracy": test["accuracy"], "macro_f1": test["macro_f1"], "val_accuracy": report["val"]["accuracy"]}


def _log_counts(run_dir: Path) -> dict:
    """Windows BirdNET computed vs read from the cache in this run (from its event log)."""
    import re

    computed = cached = 0
    birdnet_seconds = train_seconds = 0.0
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("type") == "epoch_end":
            train_seconds += float(event.get("seconds") or 0.0)
        message = event.get("message", "")
        match = re.search(
            r"(\d+) (?:grid )?window\(s\) (?:computed|scored), (\d+) from the cache[^,]*, ([0-9.]+) s", message
        )
        if match:
            computed += int(match.group(1))
            cached += int(match.group(2))
            birdnet_seconds += float(match.group(3))
    return {
        "birdnet_windows_computed": computed,
        "birdnet_windows_cached": cached,
        "birdnet_seconds": birdnet_seconds,
        "train_seconds": round(train_seconds, 2),
    }


def background_check(args, train_items, val, test, out: Path) -> dict:
    """birdnet_head with and without --background: false detections per hour on held-back ambient audio."""
    from nightscan_edge.predict.classifier import load_server_classifier
    from nightscan_edge.predict.scoring import score_audio
    from nightscan_edge.spec import BACKGROUND_LABEL

    if args.ambient:
        ambient_root, synthetic = Path(args.ambient), False
        recordings = sorted(p for p in ambient_root.rglob("*") if p.suffix.lower() in (".wav", ".flac"))
        half = max(1, len(recordings) // 2)
        train_dir = link_folder(out / "ambient-train", [(str(p), "") for p in recordings[:half]])
        held = recordings[half:]
    else:
        synthetic = True
        train_dir = synthetic_ambient(out / "ambient-train", 60.0, 6, seed=1)
        held = sorted(synthetic_ambient(out / "ambient-held", 60.0, 10, seed=2).glob("*.wav"))
    manifest = write_manifest(out / "background" / "manifest.csv", train_items, val, test)
    common = {
        "data": {"path": str(manifest), "cache_dir": args.cache_dir},
        "model": {"name": "birdnet_head"},
        "train": {"epochs": args.head_epochs, "batch_size": 32, "early_stopping_patience": None, "seed": 0},
    }
    runs = {}
    for name, extra in (("without", {}), ("with", {"background": str(train_dir)})):
        layers = json.loads(json.dumps(common))
        layers["data"].update(extra)
        runs[name] = train_run(layers, out / "background" / name)
    results = {"ambient": "synthetic" if synthetic else str(args.ambient), "ambient_hours": 0.0}
    calls = [(Path(p), label) for p, label in test]
    per_model = {}
    for name in runs:
        classifier = load_server_classifier(out / "background" / name)
        labels = classifier.labels
        call_scores = []  # (confidence of the top non-background label, correct?) per test clip
        for path, label in calls:
            probabilities = np.mean([w.probabilities for w in score_audio(classifier, path)], axis=0)
            top = int(np.argmax(probabilities))
            call_scores.append((float(probabilities[top]), labels[top] == label))
        ambient_windows = []  # top label and confidence per window
        hours = 0.0
        for path in held:
            windows = score_audio(classifier, path)
            hours += (windows[-1].end_s if windows else 0.0) / 3600
            ambient_windows += [(labels[w.top_index], w.confidence) for w in windows]
        per_model[name] = {"calls": call_scores, "ambient": ambient_windows, "hours": hours}

    # Equal recall: each model's threshold is the highest at which it still detects (correct label, confidence >= t)
    # the recall both reach at threshold 0.
    def recall(calls, threshold):
        return float(np.mean([ok and conf >= threshold for conf, ok in calls]))

    target = min(recall(m["calls"], 0.0) for m in per_model.values())
    for name, m in per_model.items():
        thresholds = np.linspace(0, 1, 201)
        usable = [t for t in thresholds if recall(m["calls"], t) >= target - 1e-9]
        threshold = float(max(usable))
        false = sum(label != BACKGROUND_LABEL and conf >= threshold for label, conf in m["ambient"])
        results[name] = {
            "run": runs[name]["run"],
            "test_accuracy": runs[name]["accuracy"],
            "threshold": threshold,
            "recall_on_calls": recall(m["calls"], threshold),
            "false_detection_windows": int(false),
            "false_detections_per_hour": false / m["hours"],
        }
        results["ambient_hours"] = m["hours"]
    without, with_bg = results["without"]["false_detections_per_hour"], results["with"]["false_detections_per_hour"]
    results["ratio_with_to_without"] = with_bg / without if without else None
    results["target_met"] = bool(without and with_bg <= without / 10)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "few_shot")
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "nightscan-edge"))
    parser.add_argument("--sizes", nargs="+", default=["5", "10", "20", "all"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--all-seeds", nargs="+", type=int, default=[0], help="seeds for the 'all clips' size")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--epochs", type=int, default=12, help="ultralight epochs (short CPU schedule)")
    parser.add_argument("--head-epochs", type=int, default=30)
    parser.add_argument("--steps", type=int, default=8, help="train.min_steps_per_epoch for ultralight")
    parser.add_argument("--grid-seconds", type=float, default=1.0, help="train.teacher_grid_seconds")
    parser.add_argument("--threads", type=int, default=1, help="torch and LiteRT threads")
    parser.add_argument("--background", action="store_true", help="also measure the background class")
    parser.add_argument("--ambient", help="folder of real ambient recordings (default: SYNTHETIC ambience)")
    parser.add_argument("--head-seeds", nargs="+", type=int, help="seeds for birdnet_head alone (default: --seeds)")
    parser.add_argument("--student-sizes", nargs="+", help="sizes for the ultralight variants (default: --sizes)")
    parser.add_argument("--int8-check", action="store_true", help="export the distilled student with INT8 (gate)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write benchmarks/results")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    root = SHARED_DATA / "animal-sounds"
    items = read_manifest(root)
    pool, val, test = fixed_split(items)
    args.out.mkdir(parents=True, exist_ok=True)

    def save(rows: list[dict], background: dict | None, int8: dict | None = None) -> None:
        summary = summarise(rows)
        result = {
            "title": "Few-shot learning curves on animal-sounds: birdnet_head, ultralight from scratch and distilled",
            "date": dt.date.today().isoformat(),
            "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} shared CPU cores, no GPU; "
            f"torch and LiteRT {args.threads} thread(s)",
            "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
            "setup": (
                f"animal-sounds ({len(items)} clips, 7 classes; no recordist groups in its manifest, so "
                f"stratified): fixed test {len(test)} and validation {len(val)} clips; K clips per class drawn from "
                f"the other {len(pool)}. ultralight_audio {args.epochs} epochs x {args.steps} steps of 32 (a short "
                f"CPU schedule); birdnet_head {args.head_epochs} epochs; teacher scores cached every "
                f"{args.grid_seconds:g} s. Test accuracy, checkpoint picked on validation."
            ),
            "figures": [
                {
                    "clips/class": row["size"],
                    "variant": row["variant"],
                    "seeds": row["seeds"],
                    "test accuracy": f"{row['accuracy']:.1%}",
                    "range": f"{row['accuracy_min']:.1%}-{row['accuracy_max']:.1%}",
                    "macro-F1": f"{row['macro_f1']:.3f}",
                    "wall s/run": f"{row['seconds']:.0f}",
                }
                for row in summary
            ],
            "notes": target_notes(summary, rows, background, int8),
            "runs": rows,
            "background": background,
            "int8_check": int8,
        }
        if not args.no_write:
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    rows: list[dict] = []
    background: dict | None = None

    def job(size: str, seed: int, variant: str) -> None:
        k = None if size == "all" else int(size)
        train_items = sample_k(pool, k, seed)
        chosen = {p for p, _ in train_items}
        unused = [item for item in pool if item[0] not in chosen]
        if variant == "distilled+u" and not unused:
            return
        tag = f"k{size}-s{seed}"
        manifest = write_manifest(args.out / tag / "manifest.csv", train_items, val, test)
        base = {"path": str(manifest), "cache_dir": args.cache_dir}
        head_run = args.out / tag / "head"
        head = {
            "data": base,
            "model": {"name": "birdnet_head", "options": {"threads": args.threads}},
            "train": {"epochs": args.head_epochs, "batch_size": 32, "early_stopping_patience": None, "seed": seed},
        }
        if variant == "head":
            layers = head
        else:
            layers = {
                "data": base,
                "model": {"name": "ultralight_audio"},
                "train": {
                    "epochs": args.epochs,
                    "batch_size": 32,
                    "min_steps_per_epoch": args.steps,
                    "early_stopping_patience": None,
                    "seed": seed,
                },
            }
            if variant.startswith("distilled"):
                if not (head_run / "report.json").is_file():
                    train_run(head, head_run)
                layers["train"].update(teacher=str(head_run), teacher_grid_seconds=args.grid_seconds)
            if variant == "distilled+u":
                layers["train"]["unlabeled"] = str(link_folder(args.out / tag / "unlabeled", unused))
        run_dir = args.out / tag / variant.replace("+", "_")
        figures = train_run(layers, run_dir)
        row = {
            "size": size,
            "seed": seed,
            "variant": variant,
            "train_clips": len(train_items),
            "unlabeled_clips": len(unused) if variant == "distilled+u" else 0,
            **figures,
            **_log_counts(run_dir),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)

    # Cheapest and most informative first, results saved after every run: the heads' curve, the background
    # check, then the edge students (the expensive part) at the sizes asked for.
    for size in args.sizes:
        for seed in args.all_seeds if size == "all" else (args.head_seeds or args.seeds):
            if "head" in args.variants:
                job(size, seed, "head")
                save(rows, background)
    if args.background:
        saved = args.out / "background" / "result.json"
        previous = json.loads(RESULTS.read_text()).get("background") if RESULTS.is_file() else None
        if not saved.is_file() and previous and str(args.out) in previous["with"]["run"]:
            saved.write_text(json.dumps(previous, indent=2))  # measured by an earlier invocation on these runs
        if saved.is_file():
            background = json.loads(saved.read_text())
        else:
            background = background_check(args, sample_k(pool, 10, 0), val, test, args.out)
            saved.write_text(json.dumps(background, indent=2))
        save(rows, background)
    for size in args.student_sizes or args.sizes:
        for seed in args.all_seeds if size == "all" else args.seeds:
            for variant in (v for v in args.variants if v != "head"):
                job(size, seed, variant)
                save(rows, background)
    if args.int8_check:
        int8 = int8_check(args.out / "k10-s0" / "distilled_u")
        save(rows, background, int8)
    print(markdown(summarise(rows)))
    return 0


def int8_check(run_dir: Path) -> dict:
    """Export the distilled student (10 clips/class, with --unlabeled) to ONNX FP32 + INT8 through the normal export
    path: does the INT8 file still pass the quality gate? Saved beside the run and reused."""
    from nightscan_edge.export import export_run

    saved = run_dir / "int8_check.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    report = export_run(run_dir, formats=["onnx"], int8=True)
    artifact = report.artifact("onnx", "int8")
    result = {"run": str(run_dir), "status": artifact.status, "gate": artifact.gate, "licence": report.licence}
    saved.write_text(json.dumps(result, indent=2))
    return result


def target_notes(summary: list[dict], rows: list[dict], background: dict | None, int8: dict | None) -> list[str]:
    """The issue's targets, each stated as measured, met or not."""
    mean = {(r["size"], r["variant"]): r["accuracy"] for r in summary}
    notes = []

    def check(text: str, value: float | None, met: bool | None) -> None:
        if value is not None:
            notes.append(f"{text}: {'met' if met else 'NOT met'} ({value:+.1f} points).")

    head10, scratch_all = mean.get(("10", "head")), mean.get(("all", "scratch"))
    if head10 is not None and scratch_all is not None:
        check(
            "birdnet_head at 10 clips/class >= ultralight from scratch on all clips",
            100 * (head10 - scratch_all),
            head10 >= scratch_all,
        )
    for size, need in (("10", 15.0), ("all", 2.0)):
        best = max((mean[(size, v)] for v in ("distilled", "distilled+u") if (size, v) in mean), default=None)
        scratch = mean.get((size, "scratch"))
        if best is not None and scratch is not None:
            check(
                f"distilled ultralight (better of with/without --unlabeled) >= {need:g} points above from scratch "
                f"at {size} clips/class (accuracy)",
                100 * (best - scratch),
                100 * (best - scratch) >= need,
            )
    first = next((r for r in rows if r["birdnet_windows_computed"]), None)
    if first is not None:
        notes.append(
            f"Embedding cost: {first['birdnet_windows_computed']} BirdNET windows in {first['birdnet_seconds']:.0f} s "
            f"({1000 * first['birdnet_seconds'] / first['birdnet_windows_computed']:.0f} ms per 3 s window with "
            "decoding, LiteRT 1 thread, on 2 cores shared with ~6 other jobs) in the first run that met new files; "
            "every later run read them from the cache."
        )
    heads = [r for r in rows if r["variant"] == "head" and r.get("train_seconds")]
    if heads:
        notes.append(
            f"Head training on cached embeddings (30 epochs, validation included): "
            f"{min(r['train_seconds'] for r in heads):.0f}-{max(r['train_seconds'] for r in heads):.0f} s per run; "
            "wall s/run also counts decoding the clips at 48 kHz and the final report."
        )
    computed = [r for r in rows if r["variant"] != "scratch" and r.get("reused") is False]
    if computed:
        later = [r["birdnet_windows_computed"] for r in computed[1:]]
        notes.append(
            "BirdNET windows computed per run after the first: "
            + ", ".join(map(str, later))
            + " (embeddings and teacher scores come from the cache once a file has been seen)."
        )
    if background:
        notes.append(
            f"Background class ({background['ambient']} ambient, "
            f"{background['ambient_hours'] * 60:.0f} min held back), "
            f"birdnet_head at 10 clips/class, equal recall on the test calls "
            f"({background['with']['recall_on_calls']:.1%}): "
            f"{background['without']['false_detections_per_hour']:.0f} false detections/hour without, "
            f"{background['with']['false_detections_per_hour']:.0f} with; target <= 1/10: "
            f"{'met' if background['target_met'] else 'NOT met'}."
        )
    student_seeds = {r["seed"] for r in rows if r["variant"] != "head"}
    if student_seeds:
        notes.append(
            f"Caveats: the ultralight runs use {len(student_seeds)} seed(s) and a short CPU schedule, so their "
            "figures are noisy and below what long schedules reach; distillation without --unlabeled has only the "
            "labelled clips' windows to learn from, and the teacher's gain shows mostly through the unlabelled ones. "
            "Compare macro-F1 too: a gain in accuracy can come from the large classes."
        )
    if int8:
        gate = int8.get("gate") or {}
        notes.append(
            f"INT8 ONNX export of the distilled student (10 clips/class, --unlabeled): {int8['status']}"
            + (f" by the INT8 gate: {gate['reason']}" if gate.get("reason") else "")
            + f"; manifest licence: {(int8.get('licence') or 'none').split(' (')[0]}."
        )
    return notes


def summarise(rows: list[dict]) -> list[dict]:
    """Mean (and spread) over seeds per size x variant."""
    table = []
    for size in sorted(dict.fromkeys(r["size"] for r in rows), key=lambda k: float("inf") if k == "all" else int(k)):
        for variant in VARIANTS:
            group = [r for r in rows if r["size"] == size and r["variant"] == variant]
            if not group:
                continue
            accuracy = [r["accuracy"] for r in group]
            table.append(
                {
                    "size": size,
                    "variant": variant,
                    "seeds": len(group),
                    "accuracy": float(np.mean(accuracy)),
                    "accuracy_min": float(np.min(accuracy)),
                    "accuracy_max": float(np.max(accuracy)),
                    "macro_f1": float(np.mean([r["macro_f1"] for r in group])),
                    "seconds": float(np.mean([r["seconds"] or 0 for r in group])),
                }
            )
    return table


def markdown(summary: list[dict]) -> str:
    lines = [
        "| clips/class | variant | seeds | test accuracy (min-max) | macro-F1 | wall s/run |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary:
        lines.append(
            f"| {row['size']} | {row['variant']} | {row['seeds']} | {row['accuracy']:.1%} "
            f"({row['accuracy_min']:.1%}-{row['accuracy_max']:.1%}) | {row['macro_f1']:.3f} | {row['seconds']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
