"""Several animals at once: a single-label softmax ``ultralight_audio`` against a multi-label (sigmoid) one on
mixtures of real clips.

    python benchmarks/multilabel.py [--examples 400] [--test-examples 200] [--epochs 15] [--seed 0]
        [--work /tmp/nightscan-multilabel] [--out benchmarks/results/multilabel.json] [--int8]

Examples are one model window (2.95 s at 22,050 Hz) each, made from REAL clips of ../shared/data/animal-sounds:
one species (single), two species (mix2) or three (mix3) overlaid at random offsets and levels (each call the
loudest stretch of its clip, at -6..0 dB of one another), always over REAL site ambience from
../shared/data/site-ambient at 10-25 dB under the calls; plus ambience alone (nothing calls). The source clips are
split per class first (train 55 %, val 15 %, test 30 %, seed ``--seed``), and the ambient recordings by recording
(half for training and validation, half held back): a test example only holds clips and ambience that no
training example used.

The softmax model trains on the single-species examples plus the ambience ones as a ``background`` class (what a
single-label user does today); the multi-label model on single, mix2, mix3 and ambience (all-zero target), with
``train.objective=multilabel`` and ``data.audio_augment.overlay_probability`` ``--overlay`` (each training batch
also overlays pairs of its windows and unites their labels: new mixtures every epoch). Same preset, epochs, seed
and source clips.

Figures on the held-out test examples: single-species accuracy (top-1; the background class counts as a miss),
the share of two-species mixtures with *both* species reported (softmax: its top label only, so at most one;
multi-label: each class above its threshold from validation), per-class recall on mixtures, mAP over all test
examples (softmax: its probabilities as scores), and false detections per hour on the held-back ambient
recordings cut into back-to-back windows (softmax: a window whose top label is not background; multi-label: each
class above its threshold). The ambience is daytime forest: it holds real birdsong at times, so some "false"
bird detections there are true. ``--int8`` also exports the multi-label run to INT8 LiteRT and compares its mAP
with FP32 on the same test examples.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import torch

from bench_common import (
    RESULTS_DIR,
    SHARED_DATA,
    LabelledItem,
    clock,
    command_line,
    load_average,
    machine_summary,
    read_labelled_manifest,
    set_threads_and_seed,
    stratified_split,
    today,
    write_result,
)
from multilabel_figures import Example, evaluate, species_scores
from multilabel_report import notes, table_row, targets
from nightscan_edge.audio.decode import decode_audio, resample_windows, window_starts
from nightscan_edge.checkpoint import load_trained_model
from nightscan_edge.config import resolve_config
from nightscan_edge.export import export_run
from nightscan_edge.multilabel_metrics import mean_average_precision
from nightscan_edge.runtime import load_runner
from nightscan_edge.spec import BACKGROUND_LABEL, AudioSpec
from nightscan_edge.train import train

SAMPLE_RATE = AudioSpec().sample_rate
WINDOW = AudioSpec().clip_samples
OBJECTIVES = ("single_label", "multilabel")
TITLES = {"multilabel": "Multi-label", "single_label": "softmax"}  # the results' title, in this order
CALL_LEVEL_DBFS = -20.0
RELATIVE_LEVEL_DB = (-6.0, 0.0)
AMBIENCE_BELOW_CALLS_DB = (10.0, 25.0)
KINDS = ("single", "mix2", "mix3", "ambience")


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def loudest_window(clip: np.ndarray) -> np.ndarray:
    """The clip's loudest model-window stretch (its call), or the whole clip when shorter."""
    if clip.size <= WINDOW:
        return clip
    energy = np.concatenate([[0.0], np.cumsum(np.square(clip, dtype=np.float64))])
    starts = np.arange(0, clip.size - WINDOW + 1, 512)
    best = int(starts[np.argmax(energy[starts + WINDOW] - energy[starts])])
    return clip[best : best + WINDOW]


def place_call(canvas: np.ndarray, call: np.ndarray, level_db: float, rng: np.random.Generator) -> None:
    """A random stretch (half a window or more) of the call at a random offset, at ``level_db`` dBFS RMS."""
    length = min(call.size, int(rng.uniform(0.5, 1.0) * WINDOW))
    start = int(rng.integers(0, call.size - length + 1))
    piece = call[start : start + length]
    piece = piece * (10 ** (level_db / 20) / rms(piece))
    offset = int(rng.integers(0, WINDOW - length + 1))
    canvas[offset : offset + length] += piece


def ambience_window(recordings: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    recording = recordings[int(rng.integers(len(recordings)))]
    start = int(rng.integers(0, max(recording.size - WINDOW, 0) + 1))
    window = recording[start : start + WINDOW]
    return np.pad(window, (0, WINDOW - window.size)) if window.size < WINDOW else window.copy()


def make_example(
    kind: str, calls: dict[str, list[np.ndarray]], ambience: Sequence[np.ndarray], rng: np.random.Generator, first: str
) -> Example:
    """``first`` and (mixtures) one or two other species drawn at random, over ambience."""
    species = {"single": 1, "mix2": 2, "mix3": 3, "ambience": 0}[kind]
    others = [label for label in sorted(calls) if label != first]
    chosen = sorted([first, *rng.choice(others, size=species - 1, replace=False).tolist()]) if species else []
    canvas = np.zeros(WINDOW, dtype=np.float64)
    for label in chosen:
        clip = calls[label][int(rng.integers(len(calls[label])))]
        place_call(canvas, clip, CALL_LEVEL_DBFS + rng.uniform(*RELATIVE_LEVEL_DB), rng)
    background = ambience_window(ambience, rng)
    if chosen:
        below = rng.uniform(*AMBIENCE_BELOW_CALLS_DB)
        background *= 10 ** ((CALL_LEVEL_DBFS - below) / 20) / rms(background)
    else:
        background *= 10 ** (rng.uniform(-3, 3) / 20)  # ambience alone: its own level, as the recorder heard it
    canvas += background
    peak = np.abs(canvas).max()
    if peak > 0.99:
        canvas *= 0.99 / peak
    return Example(canvas.astype(np.float32), tuple(chosen), kind)


def make_examples(
    counts: dict[str, int], calls: dict[str, list[np.ndarray]], ambience: Sequence[np.ndarray], seed: int
) -> list[Example]:
    rng = np.random.default_rng(seed)
    species = sorted(calls)  # each kind cycles through the species first: every one in every split, balanced
    return [
        make_example(kind, calls, ambience, rng, species[index % len(species)])
        for kind in KINDS
        for index in range(counts[kind])
    ]


def decode_calls(items: Sequence[LabelledItem]) -> dict[str, list[np.ndarray]]:
    calls: dict[str, list[np.ndarray]] = {}
    for path, label in items:
        calls.setdefault(label, []).append(loudest_window(decode_audio(path, SAMPLE_RATE)))
    return calls


def write_examples(folder: Path, examples: Sequence[Example], split: str) -> list[tuple[str, Example]]:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, example in enumerate(examples):
        path = folder / f"{split}_{example.kind}_{index:05d}.wav"
        soundfile.write(path, example.waveform, SAMPLE_RATE, subtype="FLOAT")
        rows.append((str(path), example))
    return rows


def write_manifests(work: Path, rows: dict[str, list[tuple[str, Example]]]) -> tuple[Path, Path]:
    """The multi-label manifest (every example, ``labels``) and the softmax one (single + background)."""
    multilabel, softmax = work / "multilabel.csv", work / "softmax.csv"
    with multilabel.open("w") as handle:
        handle.write("path,labels,split\n")
        for split, entries in rows.items():
            handle.writelines(f"{path},{';'.join(e.labels)},{split}\n" for path, e in entries)
    with softmax.open("w") as handle:
        handle.write("path,label,split\n")
        for split, entries in rows.items():
            for path, example in entries:
                if example.kind in ("single", "ambience"):
                    handle.write(f"{path},{example.labels[0] if example.labels else BACKGROUND_LABEL},{split}\n")
    return multilabel, softmax


def train_run(
    manifest: Path, objective: str, work: Path, epochs: int, seed: int, overrides: list[str], model: str
) -> Path:
    config = resolve_config(
        {
            "data": {"path": str(manifest), "cache": "memory"},
            "model": {"name": model},
            "train": {
                "objective": objective,
                "epochs": epochs,
                "seed": 42 + seed,
                "early_stopping_patience": None,
                "runs_dir": str(work / "runs"),
                "run_name": f"{objective}-{time.strftime('%H%M%S')}",
            },
        },
        overrides=overrides,
    )
    return train(config, progress=False).run_dir


@torch.no_grad()
def scores_of(run_dir: Path, waveforms: np.ndarray) -> tuple[np.ndarray, list[str], np.ndarray | None]:
    """(probabilities (N, C), labels, thresholds or None) of a run's best checkpoint on windows."""
    trained = load_trained_model(run_dir)
    spec = trained.spec
    if isinstance(spec, AudioSpec) and (spec.sample_rate, spec.clip_samples) != (SAMPLE_RATE, WINDOW):
        waveforms = resample_windows(waveforms, SAMPLE_RATE, spec.sample_rate, spec.clip_samples)  # birdnet_head
    batches = [torch.from_numpy(waveforms[i : i + 64]) for i in range(0, len(waveforms), 64)]
    logits = torch.cat([trained.model.forward_waveform(batch) for batch in batches])
    if trained.thresholds is not None:  # multi-label: the thresholds best.ckpt carries
        thresholds = np.array([trained.thresholds[label] for label in trained.labels])
        return torch.sigmoid(logits).numpy(), trained.labels, thresholds
    return torch.softmax(logits, dim=1).numpy(), trained.labels, None


def ambient_windows(recordings: Sequence[np.ndarray]) -> tuple[np.ndarray, float]:
    """Back-to-back windows of the held-back ambient recordings, and their hours."""
    windows = [r[s : s + WINDOW] for r in recordings for s in window_starts(r.size, WINDOW, WINDOW)]
    hours = sum(r.size for r in recordings) / SAMPLE_RATE / 3600
    return np.stack([np.pad(w, (0, WINDOW - w.size)) for w in windows]).astype(np.float32), hours


def int8_map(run_dir: Path, test: Sequence[Example], species: list[str], fp32_map: float) -> dict[str, Any]:
    """Export the multi-label run to FP32 and INT8 LiteRT; mAP of each file on the test examples (an INT8 file the
    export's gate rejected is measured from ``rejected/`` and its verdict kept)."""
    export = export_run(run_dir, formats=["tflite"], int8=True)
    waveforms = np.stack([e.waveform for e in test])
    truth = np.array([[s in e.labels for s in species] for e in test], dtype=np.float32)
    figures: dict[str, Any] = {"torch_fp32_map": fp32_map, "export_dir": str(export.out_dir)}
    for artifact in export.artifacts:
        if artifact.file is None or artifact.format != "tflite":
            continue
        runner = load_runner(Path(export.out_dir) / artifact.file, threads=1)
        probabilities = np.concatenate([runner.predict(waveforms[i : i + 1]) for i in range(len(waveforms))])
        scores = species_scores(probabilities, list(runner.manifest["labels"]), species)
        figures[f"{artifact.precision}_map"] = mean_average_precision(scores, truth)
        figures[f"{artifact.precision}_status"] = artifact.status
        figures[f"{artifact.precision}_size_bytes"] = artifact.size_bytes
        if artifact.gate and artifact.gate.get("reason"):  # the export's gate judges on validation windows
            figures[f"{artifact.precision}_gate_reason"] = artifact.gate["reason"]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=400, help="training single and mix2 examples each (mix3 "
                        "and ambience: half as many; validation a quarter of each)")  # fmt: skip
    parser.add_argument("--test-examples", type=int, default=200, help="test single and mix2 examples each")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("/tmp/nightscan-multilabel"))
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "multilabel.json")
    parser.add_argument("--int8", action="store_true", help="also export INT8 LiteRT and compare its mAP")
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="train nothing: score the runs --out names again (its INT8 figures kept, or measured again with --int8)",
    )
    parser.add_argument("--set", action="append", default=[], help="config override for both runs (section.key=v)")
    parser.add_argument("--model", default="ultralight_audio", help="the model both runs train (birdnet_head: the "
                        "server tier's reference, with --overlay 0)")  # fmt: skip
    parser.add_argument("--objectives", nargs="+", choices=OBJECTIVES, default=list(OBJECTIVES),
                        help="train only these runs (default both)")  # fmt: skip
    parser.add_argument("--overlay", type=float, default=0.5, help="multi-label run: data.audio_augment."
                        "overlay_probability (0: the fixed mixtures only)")  # fmt: skip
    parser.add_argument("--unlabeled", type=int, default=0, help="multi-label run with a --set train.teacher: this "
                        "many more mixtures of the training clips, unlabelled, for the teacher to label")  # fmt: skip
    args = parser.parse_args(argv)
    set_threads_and_seed(args.threads, args.seed)
    wall0, cpu0 = clock()
    items = read_labelled_manifest(SHARED_DATA / "animal-sounds")
    train_items, val_items, test_items = stratified_split(items, test_fraction=0.3, val_fraction=0.15, seed=args.seed)
    ambient_paths = sorted((SHARED_DATA / "site-ambient").glob("*.wav"))
    if len(ambient_paths) < 4:
        sys.exit(f"error: {SHARED_DATA / 'site-ambient'} holds no ambient recordings; this benchmark needs them")
    order = np.random.default_rng([args.seed, 7]).permutation(len(ambient_paths))
    held_back = {ambient_paths[i] for i in order[: len(order) // 2]}
    ambience = {
        "fit": [decode_audio(p, SAMPLE_RATE) for p in ambient_paths if p not in held_back],
        "test": [decode_audio(p, SAMPLE_RATE) for p in sorted(held_back)],
    }
    n = args.examples
    plans = {
        "train": (train_items, {"single": n, "mix2": n, "mix3": n // 2, "ambience": n // 2}, "fit"),
        "val": (val_items, {"single": n // 4, "mix2": n // 4, "mix3": n // 8, "ambience": n // 8}, "fit"),
        "test": (test_items, {"single": args.test_examples, "mix2": args.test_examples,
                              "mix3": args.test_examples // 2, "ambience": 0}, "test"),
    }  # fmt: skip
    examples = {
        split: make_examples(counts, decode_calls(pool), ambience[where], seed=args.seed * 100 + index)
        for index, (split, (pool, counts, where)) in enumerate(plans.items())
    }
    work = args.work
    rows = {split: write_examples(work / "examples", examples[split], split) for split in ("train", "val")}
    unlabeled = []  # more mixtures of the training clips for a teacher to label (train.unlabeled)
    if args.unlabeled:
        quarter = args.unlabeled // 4
        counts = {"single": quarter, "mix2": 2 * quarter, "mix3": quarter, "ambience": 0}
        pool = make_examples(counts, decode_calls(train_items), ambience["fit"], seed=args.seed * 100 + 7)
        write_examples(work / "unlabeled", pool, "unlabeled")
        unlabeled = [f"train.unlabeled={work / 'unlabeled'}"]
    multilabel_manifest, softmax_manifest = write_manifests(work, rows)
    species = sorted({label for _, label in items})
    test = examples["test"]
    waveforms = np.stack([e.waveform for e in test])
    ambient, ambient_hours = ambient_windows(ambience["test"])
    setup = (
        f"{len(items)} real clips of 7 species split per class (train {len(train_items)}, val {len(val_items)}, "
        f"test {len(test_items)} clips, seed {args.seed}); {len(ambient_paths)} site-ambient recordings split by "
        f"recording ({len(held_back)} held back, {ambient_hours * 3600:.0f} s). Training examples: "
        + ", ".join(f"{k} {v}" for k, v in plans["train"][1].items())
        + f"; test: {len(test)} examples ("
        + ", ".join(f"{k} {v}" for k, v in plans["test"][1].items() if v)
        + f"). {args.model} preset, {args.epochs} epochs, no early stopping, {args.threads} torch thread; the "
        f"multi-label run overlays windows of a batch with probability {args.overlay}"
        + (f", and learns from {args.unlabeled} more unlabelled mixtures of the training clips" if unlabeled else "")
        + (f". Overrides: {', '.join(args.set)}." if args.set else ".")
    )
    results: dict[str, dict[str, Any]] = {}
    runs: dict[str, str] = {}
    command = command_line(script=__file__)
    previous: dict[str, Any] = {}
    if args.rescore:
        if not args.out.is_file():
            sys.exit(f"error: --rescore scores the runs {args.out} names; it does not exist")
        previous = json.loads(args.out.read_text())
        setup, command = previous["setup"], f"{previous['command']} ; {command}"

    title = " vs ".join(TITLES[o] for o in reversed(OBJECTIVES) if o in args.objectives)
    title += f" {args.model} on mixtures of real clips"

    def write(status: str) -> None:
        wall, cpu = clock()
        figures = [table_row(name, figures) for name, figures in results.items()] or [{"model": "(none yet)"}]
        write_result(
            args.out,
            {
                "title": title,
                "date": today(),
                "machine": machine_summary(args.threads) + f"; load average {load_average()} at the end",
                "command": command,
                "setup": setup,
                "figures": figures,
                "status": status,
                "runs": runs,
                "detail": results,
                "targets": targets(results),
                # a rescore keeps the training run's clock, and states its own beside it
                "wall_minutes": previous.get("wall_minutes", round((wall - wall0) / 60, 1)),
                "cpu_minutes": previous.get("cpu_minutes", round((cpu - cpu0) / 60, 1)),
                **({"rescore_wall_minutes": round((wall - wall0) / 60, 1)} if args.rescore else {}),
                "notes": notes(results, status),
            },
        )

    manifests = {"single_label": softmax_manifest, "multilabel": multilabel_manifest}
    for objective in (o for o in OBJECTIVES if o in args.objectives):
        manifest = manifests[objective]
        overlay = [f"data.audio_augment.overlay_probability={args.overlay}"] if objective == "multilabel" else []
        overlay += unlabeled if objective == "multilabel" else []
        if args.rescore:
            run_dir = Path(previous["runs"][objective])
        else:
            run_dir = train_run(manifest, objective, work, args.epochs, args.seed, [*args.set, *overlay], args.model)
        runs[objective] = str(run_dir)
        probabilities, labels, thresholds = scores_of(run_dir, waveforms)
        ambient_probabilities = scores_of(run_dir, ambient)[0]
        results[objective] = evaluate(
            probabilities, labels, thresholds, test, species, ambient_probabilities, ambient_hours
        )
        if args.rescore and not args.int8 and "int8" in previous["detail"].get(objective, {}):
            results[objective]["int8"] = previous["detail"][objective]["int8"]
        write(f"{objective} done")
        print(objective, json.dumps(results[objective], indent=1), flush=True)
    if args.int8 and "multilabel" in results:
        try:
            multi = results["multilabel"]
            multi["int8"] = int8_map(Path(runs["multilabel"]), test, species, multi["map"])
        except Exception as error:  # the FP32 figures stand; the results say why INT8 has none
            results["multilabel"]["int8"] = {"error": f"{type(error).__name__}: {error}"}
    write("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
