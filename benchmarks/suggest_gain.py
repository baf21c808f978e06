"""What ``review suggest`` buys: the accuracy of a model retrained with 50 suggested windows vs 50 random ones.

On ../shared/data/animal-sounds (7 classes): a fixed test split (30 %) and validation split (15 %), stratified,
held out once; the rest is the pool. Per seed, a first model (``ultralight_audio``, a short CPU schedule) learns
from K clips per class of the pool; the other pool clips are the unlabelled recordings. Each arm picks 50 of their
windows (the model's own windows: its clip length, 50 % overlap):

  * ``suggested``  ``predict.suggest.pick_diverse`` on the first model's uncertainty (margin by default): the
    windows ``review suggest`` would queue
  * ``random``     50 windows drawn uniformly from the same candidates (what labelling "some" windows gives)
  * ``entropy``    (``--arms``) the same picks ranked by entropy instead of margin

The oracle labels each picked window with the label of the clip it was cut from (the held-back labels of
animal-sounds: a person reviewing the queue). The window is cut into a WAV clip, as an accepted review decision
becomes a clip of the data set's new version, and a model is retrained from scratch on the K clips per class plus
the 50 clips, same schedule and seed. Accuracy and macro-F1 on the fixed test split (checkpoint picked on
validation). Every run is a normal ``train`` run folder under ``--out`` and reused when it is there.

    python benchmarks/suggest_gain.py --out runs/suggest_gain --seeds 0 1 2   # ~15 CPU-min on 1 thread

Writes ``benchmarks/results/suggest_gain.json`` (date, machine, command) after every run.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from bench_common import (
    RESULTS_DIR,
    SHARED_DATA,
    LabelledItem,
    clock,
    command_line,
    machine_summary,
    read_labelled_manifest,
    sample_per_class,
    set_threads_and_seed,
    stratified_split,
    today,
    write_result,
    write_split_manifest,
)
from few_shot_variants import train_run
from nightscan_edge.atomic import write_bytes_atomic
from nightscan_edge.predict.classifier import load_server_classifier
from nightscan_edge.predict.suggest import Candidate, pick_diverse, score_candidates

RESULTS = RESULTS_DIR / "suggest_gain.json"
TITLE = "Labelling 50 suggested windows vs 50 random ones: accuracy of the retrained model (animal-sounds)"
ARMS = ("suggested", "random", "entropy")


def run_layers(manifest: Path, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    return {
        "data": {"path": str(manifest), "num_workers": 0},
        "model": {"name": "ultralight_audio"},
        "train": {
            "epochs": args.epochs,
            "batch_size": 32,
            "min_steps_per_epoch": args.steps,
            "early_stopping_patience": None,
            "seed": seed,
        },
    }


def cut_clips(picks: list[Candidate], label_of: dict[str, str], folder: Path) -> list[LabelledItem]:
    """Each picked window as a WAV clip labelled by the oracle (its source clip's label)."""
    items = []
    for index, pick in enumerate(picks):
        info = soundfile.info(str(pick.recording))
        start = int(pick.start_s * info.samplerate)
        stop = int((pick.end_s or info.duration) * info.samplerate)
        samples, rate = soundfile.read(str(pick.recording), start=start, stop=min(stop, info.frames), dtype="float32")
        label = label_of[str(pick.recording)]
        path = folder / label / f"{index:02d}_{pick.recording.stem}_{pick.start_s:07.2f}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        soundfile.write(buffer, samples, rate, format="WAV", subtype="FLOAT")
        write_bytes_atomic(path, buffer.getvalue())
        items.append((str(path), label))
    return items


def picks_for(arm: str, candidates: list[Candidate], args: argparse.Namespace, seed: int) -> list[Candidate]:
    if arm == "random":
        rng = np.random.default_rng([seed, 26])
        return [candidates[i] for i in rng.choice(len(candidates), size=args.labels, replace=False)]
    return pick_diverse(candidates, args.labels)


def measure_seed(
    args: argparse.Namespace, seed: int, split: tuple[list[LabelledItem], ...], label_of: dict[str, str]
) -> list[dict[str, Any]]:
    pool, val, test = split
    folder = args.out / f"seed{seed}"
    first_items = sample_per_class(pool, args.first_clips, seed)
    chosen = {path for path, _ in first_items}
    unlabelled = [Path(path) for path, _ in pool if path not in chosen]
    first = train_run(
        run_layers(write_split_manifest(folder / "first" / "manifest.csv", first_items, val, test), args, seed),
        folder / "first",
    )
    rows = [{"seed": seed, "arm": "first", "labels": len(first_items), **first}]
    classifier = load_server_classifier(first["run"], use_teacher=False)
    scored: dict[str, list[Candidate]] = {}
    for arm in args.arms:
        by = "entropy" if arm == "entropy" else "margin"
        if by not in scored:
            scored[by], _, skipped = score_candidates(classifier, unlabelled, by=by)
            if skipped:
                print(f"seed {seed}: {len(skipped)} pool clip(s) unreadable, first: {skipped[0]}", file=sys.stderr)
        picks = picks_for(arm, scored[by], args, seed)
        clips = cut_clips(picks, label_of, folder / arm / "clips")
        manifest = write_split_manifest(folder / arm / "manifest.csv", first_items + clips, val, test)
        result = train_run(run_layers(manifest, args, seed), folder / arm / "run")
        picked_labels = [label for _, label in clips]
        rows.append(
            {
                "seed": seed,
                "arm": arm,
                "labels": len(first_items) + len(clips),
                "candidates": len(scored[by]),
                "picked_recordings": len({p.recording for p in picks}),
                "picked_per_class": {label: picked_labels.count(label) for label in sorted(set(picked_labels))},
                "mean_uncertainty": float(np.mean([p.uncertainty for p in picks])),
                **result,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def summary(rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    arms = ["first", *args.arms]
    figures = []
    for arm in arms:
        group = [r for r in rows if r["arm"] == arm]
        if group:
            accuracy = [r["accuracy"] for r in group]
            figures.append(
                {
                    "labelled": f"{args.first_clips}/class" + ("" if arm == "first" else f" + {args.labels} windows"),
                    "picked by": {"first": "(first model)", "suggested": "review suggest (margin)"}.get(arm, arm),
                    "seeds": len(group),
                    "test accuracy": f"{np.mean(accuracy):.1%}",
                    "per seed": " / ".join(f"{a:.1%}" for a in accuracy),
                    "macro-F1": f"{np.mean([r['macro_f1'] for r in group]):.3f}",
                }
            )
    gains = {}
    for arm in ("suggested", "entropy"):
        paired = [
            (s["accuracy"], r["accuracy"])
            for s in rows
            if s["arm"] == arm
            for r in rows
            if r["arm"] == "random" and r["seed"] == s["seed"]
        ]
        if paired:
            gains[arm] = {
                "seeds": len(paired),
                "mean_gain_points": 100 * float(np.mean([a - b for a, b in paired])),
                "per_seed_points": [round(100 * (a - b), 1) for a, b in paired],
            }
    notes = []
    if "suggested" in gains:
        gain = gains["suggested"]
        met = gain["seeds"] >= 3 and gain["mean_gain_points"] >= 3
        notes.append(
            f"Target (suggested beat random by >= 3 points at {args.labels} labels, mean of 3 seeds): "
            f"{'met' if met else 'NOT met'} -- {gain['mean_gain_points']:+.1f} points over {gain['seeds']} seed(s) "
            f"(per seed {', '.join(f'{g:+.1f}' for g in gain['per_seed_points'])})."
        )
    if "entropy" in gains:
        notes.append(f"Entropy instead of margin: {gains['entropy']['mean_gain_points']:+.1f} points over random.")
    notes.append(
        "One test clip is "
        f"{100 / max(1, args.test_clips):.2f} points; ultralight_audio on a short CPU schedule ({args.epochs} epochs x "
        f"{args.steps} steps of 32), so the figures are noisy and below what the preset schedule reaches."
    )
    return {"figures": figures, "gains": gains, "notes": notes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/suggest_gain"))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=["suggested", "random"])
    parser.add_argument("--first-clips", type=int, default=3, help="labelled clips per class of the first model")
    parser.add_argument("--labels", type=int, default=50, help="windows each arm labels (default 50)")
    parser.add_argument("--epochs", type=int, default=6, help="ultralight epochs (short CPU schedule; preset 30)")
    parser.add_argument("--steps", type=int, default=8, help="train.min_steps_per_epoch (preset 16)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="print only; do not write benchmarks/results")
    args = parser.parse_args(argv)
    set_threads_and_seed(args.threads)
    items = read_labelled_manifest(SHARED_DATA / "animal-sounds")
    split = stratified_split(items)
    args.test_clips = len(split[2])
    label_of = dict(split[0])
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    started_wall, started_cpu = clock()
    for seed in args.seeds:
        rows += measure_seed(args, seed, split, label_of)
        wall, cpu = clock()
        document = {
            "title": TITLE,
            "date": today(),
            "machine": machine_summary(args.threads),
            "command": command_line(),
            "setup": (
                f"animal-sounds ({len(items)} clips, 7 classes): fixed test {len(split[2])} and validation "
                f"{len(split[1])} clips (stratified, seed 0); pool {len(split[0])} clips. First model: "
                f"{args.first_clips} clips/class of the pool; the other pool clips are unlabelled recordings whose "
                f"windows are the candidates. Each arm labels {args.labels} windows (oracle: the source clip's label), "
                f"cut as WAV clips; retrained from scratch, ultralight_audio {args.epochs} epochs x {args.steps} "
                "steps of 32, same seed. Test accuracy, checkpoint picked on validation."
            ),
            **summary(rows, args),
            "runs": rows,
            "wall_seconds": round(wall - started_wall, 1),
            "cpu_seconds": round(cpu - started_cpu, 1),
        }
        if not args.no_write:
            write_result(RESULTS, document)
    print(json.dumps(document["figures"], indent=1))
    print("\n".join(document["notes"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
