"""What every benchmark repeats, in one place: where the shared data lives, the fixed subsets of a labelled data set
(stratified split, K clips per class), seeds and threads, wall/CPU clocks, and the results file with its provenance
(date, machine, command) written atomically.

The benchmarks run as scripts (``python benchmarks/NAME.py``), so Python puts ``benchmarks/`` first on the path and
``import bench_common`` finds this file; a test that loads a benchmark by path puts ``benchmarks/`` on the path first.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nightscan_edge.atomic import write_json_atomic

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
SHARED_DATA = Path(os.environ.get("NIGHTSCAN_SHARED_DATA", REPO.parent / "shared" / "data"))
# What ``benchmarks/render_results.py`` (and so the docs) needs in every results file.
REQUIRED_RESULT_KEYS = ("title", "date", "machine", "command", "figures")

LabelledItem = tuple[str, str]  # (absolute path, label)


def read_labelled_manifest(root: Path) -> list[LabelledItem]:
    """``root/manifest.csv`` as (absolute path, label) pairs; exits with one line when the shared data is absent."""
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        sys.exit(f"error: {manifest} not found; this benchmark needs ../shared/data (or NIGHTSCAN_SHARED_DATA)")
    with manifest.open(newline="") as handle:
        return [(str((root / row["path"]).resolve()), row["label"]) for row in csv.DictReader(handle)]


def stratified_split(
    items: Sequence[LabelledItem], test_fraction: float = 0.3, val_fraction: float = 0.15, seed: int = 0
) -> tuple[list[LabelledItem], list[LabelledItem], list[LabelledItem]]:
    """(pool, val, test), per class at least one clip in val and test; the same for every run with the same seed."""
    rng = np.random.default_rng(seed)
    pool: list[LabelledItem] = []
    val: list[LabelledItem] = []
    test: list[LabelledItem] = []
    for label in sorted({label for _, label in items}):
        members = [item for item in items if item[1] == label]
        order = rng.permutation(len(members))
        n_test = max(1, round(test_fraction * len(members)))
        n_val = max(1, round(val_fraction * len(members)))
        test += [members[i] for i in order[:n_test]]
        val += [members[i] for i in order[n_test : n_test + n_val]]
        pool += [members[i] for i in order[n_test + n_val :]]
    return pool, val, test


def sample_per_class(pool: Sequence[LabelledItem], k: int | None, seed: int) -> list[LabelledItem]:
    """K items per class (all of a class that has fewer; all of every class when ``k`` is None), drawn by
    ``(seed, k)`` so that each size is its own draw and reproducible."""
    rng = np.random.default_rng([seed, k or 0])
    chosen: list[LabelledItem] = []
    for label in sorted({label for _, label in pool}):
        members = [item for item in pool if item[1] == label]
        take = len(members) if k is None else min(k, len(members))
        chosen += [members[i] for i in rng.permutation(len(members))[:take]]
    return chosen


def write_split_manifest(
    path: Path, train: Sequence[LabelledItem], val: Sequence[LabelledItem], test: Sequence[LabelledItem]
) -> Path:
    """A manifest with a ``split`` column, what ``train`` reads to keep the benchmark's own split."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "split"])
        for split, items in (("train", train), ("val", val), ("test", test)):
            writer.writerows([item_path, label, split] for item_path, label in items)
    return path


def set_threads_and_seed(threads: int, seed: int = 0) -> None:
    """One torch thread count and seed for the whole benchmark (torch imported here: not every benchmark needs it)."""
    import torch  # heavy; the core install brings it

    torch.set_num_threads(threads)
    torch.manual_seed(seed)


def clock() -> tuple[float, float]:
    """(wall-clock, this process's CPU time): on a CPU shared with other work the wall clock measures the
    neighbours too, while CPU time counts only this process's own work (all its threads)."""
    return time.perf_counter(), time.process_time()


def load_average() -> str:
    with contextlib.suppress(OSError):
        return f"{os.getloadavg()[0]:.1f}"
    return "?"


def machine_summary(threads: int) -> str:
    """One line for the results file's ``machine`` on a CPU-only host."""
    return (
        f"{platform.machine()} {platform.system()}, {os.cpu_count()} shared CPU cores, no GPU; "
        f"torch and LiteRT {threads} thread(s)"
    )


def command_line(argv: Sequence[str] | None = None, script: str | None = None) -> str:
    """The command that reproduces this run, as the docs show it (``python benchmarks/NAME.py ...``): the script as
    it was started, or ``script`` (a benchmark's ``__file__``) relative to the repository, whatever the directory."""
    shown = Path(sys.argv[0]).as_posix() if script is None else os.path.relpath(script, REPO)
    return "python " + " ".join([shown, *(sys.argv[1:] if argv is None else argv)])


def today() -> str:
    return dt.date.today().isoformat()


def write_result(path: Path | str, result: dict[str, Any]) -> Path:
    """Write a results file atomically (a time limit or a crash leaves the old file or the new one, never half),
    refusing one the docs could not render (a required key missing)."""
    missing = [key for key in REQUIRED_RESULT_KEYS if key not in result]
    if missing:
        raise ValueError(f"results for {path} lack {', '.join(missing)}; every results file needs them")
    return write_json_atomic(path, result)


def clip_accuracy(probabilities: np.ndarray, labels: np.ndarray, sources: list[str]) -> list[int]:
    """Per clip: 1 when the mean of its windows' probabilities picks its label (as the run's report counts)."""
    by_clip: dict[str, list[int]] = {}
    for index, source in enumerate(sources):
        by_clip.setdefault(source, []).append(index)
    return [int(np.argmax(probabilities[rows].mean(axis=0)) == labels[rows[0]]) for rows in by_clip.values()]
