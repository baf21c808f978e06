"""What the cached teacher grid costs a BirdNET-distilled student (issue 15): teacher scores on the student's
actual augmented windows vs the cached grid scores training uses.

Training does not run BirdNET on every augmented window (~0.3-1.3 s per window on one shared core). The teacher
scores, once per file and cached, a grid of clean windows every ``train.teacher_grid_seconds``; a training window
takes the logits of the grid window nearest its random crop offset (``nightscan_edge.train.birdnet_teacher``).
This script replays the first training draws of a distilled run exactly as its training loop drew them (the run's
saved config and split, ``build_loaders`` with teacher positions, epoch 0: same crop, time shift, gain and noise
mix), and for each window compares the teacher's probabilities

  * ``exact``: BirdNET + the head on the student's augmented window, resampled to 48 kHz (what the issue asks);
  * ``clean``: the same crop without the waveform augmentation (isolates the grid's offset error);
  * ``grid``:  the cached grid score training uses today,

as top-1 agreement, mean KL divergence and mean total variation, at temperature 1 and at the run's distillation
temperature (the soft targets the student actually learns from).

    python benchmarks/teacher_alignment.py RUN --windows 128 --noise-mix 0.5

Writes ``benchmarks/results/teacher_alignment.json`` (date, machine, command).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bench_common import RESULTS_DIR, command_line, machine_summary, today, write_result
from nightscan_edge.audio.decode import fit_to_length
from nightscan_edge.data.prepare import prepare_data
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.train.birdnet_teacher import BirdNetTeacher
from nightscan_edge.train.distill import teacher_for
from nightscan_edge.train.loaders import build_loaders

RESULTS = RESULTS_DIR / "teacher_alignment.json"


def replay(run_dir: Path, windows: int, noise_mix: list[float]) -> tuple[BirdNetTeacher, list[dict]]:
    """The run's teacher and, per augmentation setting (the run's own, then each ``noise_mix`` probability as a
    what-if), the first ``windows`` training draws of epoch 0 as its loader draws them, with their clean crops."""
    folder = RunFolder(run_dir)
    config = folder.read_config()
    if not config.train.teacher:
        sys.exit(f"error: {run_dir} was not distilled (no train.teacher); give a run trained with --teacher")
    prepared = prepare_data(config, split_file=folder.split)
    teacher = teacher_for(config, prepared.labels, prepared.spec)
    if not isinstance(teacher, BirdNetTeacher):
        sys.exit(f"error: {run_dir}'s teacher is not a birdnet_head run")
    clips = prepared.splits["train"].arrays
    teacher.prepare(clips, prepared.splits["train"].paths)
    spec = prepared.spec
    settings = []
    for probability in [None, *noise_mix]:
        augment = config.data.audio_augment
        if probability is not None:
            augment = augment.model_copy(update={"noise_mix_probability": probability})
        data = config.data.model_copy(update={"audio_augment": augment})
        loaders = build_loaders(config.model_copy(update={"data": data}), prepared, teacher_positions=True)
        loaders.sampler.set_epoch(0)
        parts: dict[str, list[torch.Tensor]] = {"raw": [], "label": [], "index": [], "start": []}
        for batch in loaders.train:
            for name, value in zip(parts, batch, strict=True):
                parts[name].append(value)
            if sum(len(r) for r in parts["raw"]) >= windows:
                break
        draw = {name: torch.cat(values)[:windows] for name, values in parts.items()}
        draw["clean"] = torch.from_numpy(
            np.stack(
                [
                    fit_to_length(clips[i][s : s + spec.clip_samples], spec.clip_samples, spec.pad_mode)
                    for i, s in zip(draw["index"].tolist(), draw["start"].tolist(), strict=True)
                ]
            ).astype(np.float32)
        )
        settings.append({"as_trained": probability is None, "augment": augment, "draw": draw})
    return teacher, settings


def compare(p: torch.Tensor, q: torch.Tensor) -> dict[str, float]:
    """``p`` the reference probabilities, ``q`` the approximation: agreement of the top class, KL(p || q), TV."""
    kl = (p * (p.clamp_min(1e-12).log() - q.clamp_min(1e-12).log())).sum(dim=1)
    return {
        "top1_agreement": float((p.argmax(1) == q.argmax(1)).float().mean()),
        "mean_kl": float(kl.mean()),
        "mean_total_variation": float(0.5 * (p - q).abs().sum(dim=1).mean()),
    }


COMPARISONS = (
    ("exact", "grid", "what training uses vs the issue's rule (augmented window)"),
    ("clean", "grid", "grid offset error alone (same crop, no augmentation)"),
    ("exact", "clean", "waveform augmentation alone (same crop)"),
)


def measure(teacher: BirdNetTeacher, setting: dict) -> dict:
    """Teacher logits three ways on one setting's draws, and every comparison at T=1 and the distillation T."""
    draw, augment = setting["draw"], setting["augment"]
    started = time.perf_counter()
    logits = {
        "grid": teacher.logits(draw["raw"], (draw["index"], draw["start"])),
        "exact": teacher.logits(draw["raw"]),
        "clean": teacher.logits(draw["clean"]),
    }
    seconds = time.perf_counter() - started
    name = "as trained" if setting["as_trained"] else f"what-if: noise mix p={augment.noise_mix_probability:g}"
    description = (
        f"{name} (gain +-{augment.gain_db:g} dB, time shift {augment.time_shift}, noise mix p="
        f"{augment.noise_mix_probability:g} at {augment.noise_snr_db[0]:g}-{augment.noise_snr_db[1]:g} dB SNR)"
    )
    rows, comparisons = [], {}
    for reference, approximation, meaning in COMPARISONS:
        key = f"{approximation}_vs_{reference}"
        comparisons[key] = {}
        for t in (1.0, teacher.temperature):
            figures = compare(
                torch.softmax(logits[reference] / t, dim=1), torch.softmax(logits[approximation] / t, dim=1)
            )
            comparisons[key][f"T={t:g}"] = figures
            rows.append(
                {
                    "augmentation": name,
                    "teacher scores": f"{approximation} vs {reference}",
                    "what it isolates": meaning,
                    "T": f"{t:g}",
                    "top-1 agreement": f"{figures['top1_agreement']:.1%}",
                    "mean KL": f"{figures['mean_kl']:.3f}",
                    "mean TV": f"{figures['mean_total_variation']:.3f}",
                }
            )
    labels = draw["label"]
    return {
        "augmentation": description,
        "windows": len(labels),
        "teacher_accuracy_on_windows": {k: float((v.argmax(1) == labels).float().mean()) for k, v in logits.items()},
        "comparisons": comparisons,
        "birdnet_seconds": round(seconds, 1),
        "rows": rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a student run trained with --teacher (a birdnet_head run)")
    parser.add_argument("--windows", type=int, default=128, help="training draws to compare (default 128)")
    parser.add_argument(
        "--noise-mix",
        type=float,
        nargs="*",
        default=[],
        help="also replay the draws with this data.audio_augment.noise_mix_probability (a what-if when the run "
        "mixed no noise)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch and LiteRT threads")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write benchmarks/results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    teacher, settings = replay(args.run, args.windows, args.noise_mix)
    spec = teacher.student_spec
    grid_seconds = teacher.hop / spec.sample_rate
    measured = [measure(teacher, setting) for setting in settings]
    notes = [
        f"{args.windows} training draws of epoch 0 of {args.run.name}, exactly as its loader draws them; grid step "
        f"{grid_seconds:g} s (a crop is at most {grid_seconds / 2:g} s from its grid window), student window "
        f"{spec.clip_samples / spec.sample_rate:.2f} s at {spec.sample_rate} Hz. SpecAugment acts on the student's "
        "spectrogram only and never reaches the teacher."
    ]
    for result in measured:
        headline = result["comparisons"]["grid_vs_exact"]["T=1"]
        accuracy = result["teacher_accuracy_on_windows"]
        verdict = "fair stand-in (>= 90 %)" if headline["top1_agreement"] >= 0.9 else "POOR stand-in (< 90 %)"
        notes.append(
            f"{result['augmentation']}: the cached grid score agrees with BirdNET on the augmented window for "
            f"{headline['top1_agreement']:.1%} of windows (mean KL {headline['mean_kl']:.3f}, TV "
            f"{headline['mean_total_variation']:.3f} at T=1): a {verdict}. Teacher accuracy on these windows: grid "
            f"{accuracy['grid']:.1%}, exact {accuracy['exact']:.1%}, clean {accuracy['clean']:.1%}. Scoring the "
            f"{2 * result['windows']} exact and clean windows live took {result['birdnet_seconds']:.0f} s "
            f"({500 * result['birdnet_seconds'] / result['windows']:.0f} ms per window), what every training step "
            "would pay without the cache."
        )
    output = {
        "title": "Cached teacher grid vs BirdNET on the student's actual augmented windows",
        "date": today(),
        "machine": machine_summary(args.threads),
        "command": command_line(),
        "setup": (
            "exact = teacher (birdnet_head) on the student's augmented window resampled to 48 kHz; clean = the same "
            "crop without waveform augmentation; grid = the cached score of the nearest grid window (what training "
            "uses). KL(reference || approximation) and total variation of the softmax at T=1 and at the run's "
            f"distillation temperature T={teacher.temperature:g}."
        ),
        "figures": [row for result in measured for row in result["rows"]],
        "notes": notes,
        "run": str(args.run),
        "grid_seconds": grid_seconds,
        "distill_temperature": teacher.temperature,
        "settings": [{k: v for k, v in result.items() if k != "rows"} for result in measured],
    }
    for row in output["figures"]:
        print(" | ".join(str(v) for v in row.values()))
    print("\n".join(notes))
    if not args.no_write:
        write_result(RESULTS, output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
