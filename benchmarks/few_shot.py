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
rain-like impulses, mains hum, at several levels), and the JSON says so. ``--ambient-from-gaps`` adds a row on
REAL ambient: the no-call stretches of the field clips themselves (``data.background.quiet_stretches``: 100 ms
frames at least 20 dB under the clip's call level, 0.3 s clear of any louder frame, runs of at least 1 s, not
digital silence; then vetoed where BirdNET hears an animal with confidence >= 0.5). The training background comes
from the training pool's recordings only and the held-back ambient from the test split's recordings only, so no
recording is on both sides; the JSON says how many seconds each side had.

    python benchmarks/few_shot.py --out runs/few_shot --seeds 0 1   # ultralight on its preset schedule: hours
    python benchmarks/few_shot.py --out runs/few_shot --only background --ambient-from-gaps   # minutes, not hours

Writes ``benchmarks/results/few_shot.json`` (date, machine, command) and prints a Markdown table; ``--only
background`` merges the background rows into the existing file and keeps the learning curves as measured.

``--mode new-species`` is the harder task of issue 24 (every clip at 16 kHz, splits grouped by source recording,
birdnet_head against today's distilled student and the feature-distilled students): ``new_species.py``, which
writes ``benchmarks/results/few_shot_new_species.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_common import (
    REPO,
    RESULTS_DIR,
    SHARED_DATA,
    LabelledItem,
    command_line,
    read_labelled_manifest,
    set_threads_and_seed,
    stratified_split,
    write_result,
)
from few_shot_background import measure_background
from few_shot_report import markdown, results_document, summarise
from few_shot_variants import VARIANTS, int8_check, make_draw, run_variant
from new_species import main as new_species_main

RESULTS = RESULTS_DIR / "few_shot.json"
Split = tuple[list[LabelledItem], list[LabelledItem], list[LabelledItem]]


@dataclass(frozen=True)
class Part:
    """A measurement beside the learning curves, saved under its own key(s) of few_shot.json. ``measure`` yields
    (key, result) pairs as they are measured, so each is saved at once; ``after_students``: it needs the students'
    runs; ``alone``: ``--only NAME`` can run it by itself and merge it into the existing file."""

    keys: tuple[str, ...]
    wanted: Callable[[argparse.Namespace], bool]
    measure: Callable[[argparse.Namespace, Split, dict[str, Any]], Iterator[tuple[str, dict[str, Any]]]]
    after_students: bool
    alone: bool


def _background(
    args: argparse.Namespace, split: Split, previous: dict[str, Any]
) -> Iterator[tuple[str, dict[str, Any]]]:
    return measure_background(args, *split, previous)


def _int8(args: argparse.Namespace, split: Split, previous: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "int8_check", int8_check(args.out / "k10-s0" / VARIANTS["distilled+u"].folder_name)


# The modes beside the curves, declared in one place: a new mode is one entry here (and its function).
PARTS: dict[str, Part] = {
    "background": Part(
        keys=("background_site", "background_gaps", "background"),
        wanted=lambda args: bool(args.background),
        measure=_background,
        after_students=False,
        alone=True,
    ),
    "int8_check": Part(
        keys=("int8_check",), wanted=lambda args: bool(args.int8_check), measure=_int8, after_students=True, alone=False
    ),
}
EXTRA_KEYS = tuple(key for part in PARTS.values() for key in part.keys)


def main(argv: list[str] | None = None) -> int:
    modes = argparse.ArgumentParser(add_help=False)
    modes.add_argument("--mode", choices=["curves", "new-species"], default="curves")
    chosen, rest = modes.parse_known_args(sys.argv[1:] if argv is None else argv)
    if chosen.mode == "new-species":
        return new_species_main(rest, command=command_line(["--mode", "new-species", *rest]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["curves", "new-species"], default="curves", help="new-species: see above")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "few_shot")
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "nightscan-edge"))
    parser.add_argument("--sizes", nargs="+", default=["5", "10", "20", "all"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--all-seeds", nargs="+", type=int, default=[0], help="seeds for the 'all clips' size")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--epochs", type=int, default=30, help="ultralight epochs (default: its preset, 30)")
    parser.add_argument("--head-epochs", type=int, default=30)
    parser.add_argument(
        "--steps", type=int, default=16, help="train.min_steps_per_epoch for ultralight (default: the preset, 16)"
    )
    parser.add_argument("--grid-seconds", type=float, default=1.0, help="train.teacher_grid_seconds")
    parser.add_argument("--threads", type=int, default=1, help="torch and LiteRT threads")
    parser.add_argument("--background", action="store_true", help="also measure the background class")
    parser.add_argument("--ambient", help="folder of real ambient recordings (default: SYNTHETIC ambience)")
    parser.add_argument(
        "--ambient-from-gaps",
        action="store_true",
        help="also measure the background class on REAL ambient: the no-call stretches of the recordings (>= 20 dB "
        "under the clip's call level, 0.3 s clear of louder frames, >= 1 s, BirdNET hears no animal there); "
        "training background from the training pool's recordings, held-back ambient from the test split's only "
        "(implies --background)",
    )
    parser.add_argument(
        "--site-ambient",
        type=Path,
        help="also measure the background class on real recordings of one site (e.g. ../shared/data/site-ambient): "
        "pieces of >= 3 s screened by BirdNET; every third recording in time order trains, the rest is held back "
        "(implies --background)",
    )
    parser.add_argument(
        "--only",
        choices=[name for name, part in PARTS.items() if part.alone],
        help="run only this part and merge its figures into the existing benchmarks/results/few_shot.json "
        "(learning curves, INT8 check and their command are kept)",
    )
    parser.add_argument("--head-seeds", nargs="+", type=int, help="seeds for birdnet_head alone (default: --seeds)")
    parser.add_argument("--student-sizes", nargs="+", help="sizes for the ultralight variants (default: --sizes)")
    parser.add_argument("--int8-check", action="store_true", help="export the distilled student with INT8 (gate)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write benchmarks/results")
    args = parser.parse_args(argv)
    args.asked_background = args.background or bool(args.ambient)
    args.background = args.background or args.ambient_from_gaps or args.site_ambient or args.only == "background"

    set_threads_and_seed(args.threads)
    items = read_labelled_manifest(SHARED_DATA / "animal-sounds")
    split = stratified_split(items)
    pool, val, test = split
    args.out.mkdir(parents=True, exist_ok=True)

    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    if args.only and not previous:
        sys.exit(f"error: --only {args.only} merges into {RESULTS}, which does not exist; run the full benchmark first")
    # What this invocation measures beside the learning curves; --only keeps the rest from the previous file.
    extras: dict[str, Any] = {key: previous.get(key) if args.only else None for key in EXTRA_KEYS}
    rows: list[dict[str, Any]] = list(previous.get("runs") or []) if args.only else []

    def save() -> None:
        if not args.no_write:
            write_result(RESULTS, results_document(args, rows, extras, split, previous))

    def train_variant(size: str, seed: int, name: str) -> None:
        row = run_variant(make_draw(args, size, seed, pool, val, test), VARIANTS[name])
        if row is not None:
            rows.append(row)
            print(json.dumps(row), flush=True)
        save()

    def measure_parts(after_students: bool) -> None:
        for name, part in PARTS.items():
            if part.after_students == after_students and part.wanted(args) and args.only in (None, name):
                for key, result in part.measure(args, split, previous):
                    extras[key] = result
                    save()

    # Cheapest and most informative first, results saved after every run: the heads' curve, the parts that need
    # no student (the background check), then the edge students (the expensive part) at the sizes asked for.
    curves = not args.only
    for size in args.sizes if curves else []:
        for seed in args.all_seeds if size == "all" else (args.head_seeds or args.seeds):
            if "head" in args.variants:
                train_variant(size, seed, "head")
    measure_parts(after_students=False)
    for size in (args.student_sizes or args.sizes) if curves else []:
        for seed in args.all_seeds if size == "all" else args.seeds:
            for name in args.variants:
                if VARIANTS[name].student:
                    train_variant(size, seed, name)
    measure_parts(after_students=True)
    print(markdown(summarise(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
