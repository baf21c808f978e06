"""The few-shot variants, declared in one table (``VARIANTS``), and how one variant is trained on one draw of K
clips per class through the normal ``train`` path into its own run folder.

A new variant is one ``Variant`` row: its name, whether it is an edge student (the expensive runs, trained after
the heads' curve), whether it learns from the pool's unused clips, and a function giving its config layers.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_common import LabelledItem, sample_per_class, write_split_manifest
from nightscan_edge.config import resolve_config
from nightscan_edge.train import train


@dataclass(frozen=True)
class Draw:
    """One (size, seed) draw from the pool: the K clips per class, the clips left unused, and the folder and data
    section its variants share (the head run trained here is the distilled variants' teacher)."""

    args: argparse.Namespace
    size: str
    seed: int
    train_items: list[LabelledItem]
    unused: list[LabelledItem]
    folder: Path
    data: dict[str, Any]


@dataclass(frozen=True)
class Variant:
    name: str
    student: bool  # an ultralight_audio run: trained after the heads' curve, at ``--student-sizes``
    uses_unlabeled: bool  # the row counts the pool's unused clips it learnt from
    layers: Callable[[Draw], dict[str, Any] | None]  # config layers; None when the variant does not apply

    @property
    def folder_name(self) -> str:
        return self.name.replace("+", "_")


def head_layers(draw: Draw) -> dict[str, Any]:
    """birdnet_head: frozen BirdNET V2.4 + a linear head."""
    return {
        "data": dict(draw.data),
        "model": {"name": "birdnet_head", "options": {"threads": draw.args.threads}},
        "train": {
            "epochs": draw.args.head_epochs,
            "batch_size": 32,
            "early_stopping_patience": None,
            "seed": draw.seed,
        },
    }


def scratch_layers(draw: Draw) -> dict[str, Any]:
    """ultralight_audio from scratch on the preset's schedule (or ``--epochs``/``--steps``)."""
    return {
        "data": dict(draw.data),
        "model": {"name": "ultralight_audio"},
        "train": {
            "epochs": draw.args.epochs,
            "batch_size": 32,
            "min_steps_per_epoch": draw.args.steps,
            "early_stopping_patience": None,
            "seed": draw.seed,
        },
    }


def distilled_layers(draw: Draw) -> dict[str, Any]:
    """ultralight_audio with ``--teacher`` = this draw's head run (trained first when it is not there yet)."""
    head_run = draw.folder / VARIANTS["head"].folder_name
    if not (head_run / "report.json").is_file():
        train_run(head_layers(draw), head_run)
    layers = scratch_layers(draw)
    layers["train"].update(teacher=str(head_run), teacher_grid_seconds=draw.args.grid_seconds)
    return layers


def distilled_unlabeled_layers(draw: Draw) -> dict[str, Any] | None:
    """The distilled student plus ``--unlabeled`` = the pool clips not drawn (labels hidden); None when none is left."""
    if not draw.unused:
        return None
    layers = distilled_layers(draw)
    layers["train"]["unlabeled"] = str(link_folder(draw.folder / "unlabeled", draw.unused))
    return layers


VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant("scratch", student=True, uses_unlabeled=False, layers=scratch_layers),
        Variant("head", student=False, uses_unlabeled=False, layers=head_layers),
        Variant("distilled", student=True, uses_unlabeled=False, layers=distilled_layers),
        Variant("distilled+u", student=True, uses_unlabeled=True, layers=distilled_unlabeled_layers),
    )
}


def make_draw(
    args: argparse.Namespace,
    size: str,
    seed: int,
    pool: list[LabelledItem],
    val: list[LabelledItem],
    test: list[LabelledItem],
) -> Draw:
    """K clips per class of ``pool`` (``size`` "all": every clip), its manifest written under ``--out``."""
    train_items = sample_per_class(pool, None if size == "all" else int(size), seed)
    chosen = {path for path, _ in train_items}
    folder = args.out / f"k{size}-s{seed}"
    manifest = write_split_manifest(folder / "manifest.csv", train_items, val, test)
    unused = [item for item in pool if item[0] not in chosen]
    data = {"path": str(manifest), "cache_dir": args.cache_dir}
    return Draw(args, size, seed, train_items, unused, folder, data)


def run_variant(draw: Draw, variant: Variant) -> dict[str, Any] | None:
    """Train (or reuse) one variant on one draw: its row of the JSON's ``runs``, None when it does not apply."""
    layers = variant.layers(draw)
    if layers is None:
        return None
    run_dir = draw.folder / variant.folder_name
    figures = train_run(layers, run_dir)
    return {
        "size": draw.size,
        "seed": draw.seed,
        "variant": variant.name,
        "train_clips": len(draw.train_items),
        "unlabeled_clips": len(draw.unused) if variant.uses_unlabeled else 0,
        **figures,
        **log_counts(run_dir),
    }


def link_folder(folder: Path, items: list[LabelledItem]) -> Path:
    """Clips as a folder of links (labels hidden): what ``--unlabeled`` and ``--background`` take."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, (path, _) in enumerate(items):
        link = folder / f"{index:04d}{Path(path).suffix}"
        if not link.exists():
            link.symlink_to(path)
    return folder


def train_run(config_layers: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Train one run, or reuse it when its report is there (the JSON says which)."""
    report_path = run_dir / "report.json"
    if report_path.is_file():
        report = json.loads(report_path.read_text())
        return {"run": str(run_dir), "reused": True, **_figures(report), "seconds": report.get("bench_seconds")}
    started = time.perf_counter()
    result = train(resolve_config(config_layers), run_dir=run_dir, progress=False)
    seconds = time.perf_counter() - started
    report = json.loads(report_path.read_text())
    report["bench_seconds"] = seconds
    report_path.write_text(json.dumps(report, indent=2))
    return {"run": str(run_dir), "reused": False, "status": result.status, **_figures(report), "seconds": seconds}


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    test = report.get("test") or report["val"]
    return {"accuracy": test["accuracy"], "macro_f1": test["macro_f1"], "val_accuracy": report["val"]["accuracy"]}


BIRDNET_COUNTS = re.compile(r"(\d+) (?:grid )?window\(s\) (?:computed|scored), (\d+) from the cache[^,]*, ([0-9.]+) s")


def log_counts(run_dir: Path) -> dict[str, Any]:
    """Windows BirdNET computed vs read from the cache in this run (from its event log)."""
    computed = cached = 0
    birdnet_seconds = train_seconds = 0.0
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("type") == "epoch_end":
            train_seconds += float(event.get("seconds") or 0.0)
        match = BIRDNET_COUNTS.search(event.get("message", ""))
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


def int8_check(run_dir: Path) -> dict[str, Any]:
    """Export the distilled student (10 clips/class, with --unlabeled) to ONNX FP32 + INT8 through the normal export
    path: does the INT8 file still pass the quality gate? Saved beside the run and reused."""
    from nightscan_edge.export import export_run  # the export stack: only this part needs it

    saved = run_dir / "int8_check.json"
    if saved.is_file():
        return dict(json.loads(saved.read_text()))
    report = export_run(run_dir, formats=["onnx"], int8=True)
    artifact = report.artifact("onnx", "int8")
    result = {"run": str(run_dir), "status": artifact.status, "gate": artifact.gate, "licence": report.licence}
    saved.write_text(json.dumps(result, indent=2))
    return result
