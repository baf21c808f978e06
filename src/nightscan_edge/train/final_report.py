"""The figures to trust a run: the best checkpoint evaluated on validation (and test) into ``report.json``,
the learning curves and the confusion matrix (a multi-label run: per-class AP, AUROC, F1 / precision / recall at
the thresholds ``best.ckpt`` carries, mAP and precision-recall curves; no confusion matrix)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader

from nightscan_edge.atomic import finite_json
from nightscan_edge.audio.recording import AudioClip
from nightscan_edge.checkpoint import read_checkpoint_meta
from nightscan_edge.config import Config
from nightscan_edge.data.night_frames import grey_photos
from nightscan_edge.data.prepare import PreparedData, SplitData
from nightscan_edge.errors import CheckpointError
from nightscan_edge.multilabel_metrics import detection_report
from nightscan_edge.objective import MULTILABEL_REPORT_KEY, MultilabelReport
from nightscan_edge.paths import display_path
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.safe_load import load_torch_file
from nightscan_edge.sample_size import accuracy_warning
from nightscan_edge.spec import ImageSpec
from nightscan_edge.train.callbacks import RunRecorder
from nightscan_edge.train.loaders import eval_dataset
from nightscan_edge.train.module import ClassifierModule
from nightscan_edge.train.report import classification_report, plot_confusion_matrix, plot_curves, write_report


@torch.no_grad()
def score_split(module: ClassifierModule, prepared: PreparedData, split: SplitData, batch_size: int) -> torch.Tensor:
    """Clip-level scores per file of a split: ``(N, C)`` (windows averaged; multi-label: each class's highest)."""
    dataset, collate = eval_dataset(prepared, split)
    module.eval()
    scores = []
    for windows, labels, owner in DataLoader(dataset, batch_size=batch_size, collate_fn=collate):
        scores.append(module.clip_probabilities(windows, owner, labels.shape[0]))
    return torch.cat(scores)


def predict_split(module: ClassifierModule, prepared: PreparedData, split: SplitData, batch_size: int) -> torch.Tensor:
    """Clip-level predicted class per file of a split (windows averaged)."""
    return score_split(module, prepared, split, batch_size).argmax(1)


def split_report(
    module: ClassifierModule, prepared: PreparedData, split: SplitData, batch_size: int, thresholds: list[float]
) -> dict[str, Any]:
    """One split's figures: the classification report, or (multi-label) the detection report at ``thresholds``,
    with its exact-match share as ``accuracy`` so a run's headline reads the same for both objectives."""
    if split.targets is None:
        return classification_report(
            predict_split(module, prepared, split, batch_size), torch.tensor(split.labels), prepared.labels
        )
    scores = score_split(module, prepared, split, batch_size)
    report = detection_report(scores, split.targets, prepared.labels, thresholds)
    return {**report, "accuracy": report["exact_match"]}


def checkpoint_thresholds(checkpoint: Path, labels: list[str]) -> list[float]:
    """The per-class thresholds a multi-label checkpoint carries (chosen on its epoch's validation), label order."""
    saved = read_checkpoint_meta(checkpoint).thresholds
    if saved is None:
        raise CheckpointError(f"{checkpoint} has no per-class thresholds; was it saved before its first validation?")
    return [saved[label] for label in labels]


def final_report(
    folder: RunFolder, module: ClassifierModule, prepared: PreparedData, config: Config, recorder: RunRecorder
) -> dict[str, Any]:
    best = load_torch_file(folder.best_checkpoint)
    module.load_state_dict(best["state_dict"], strict=False)
    module.cpu()
    thresholds = checkpoint_thresholds(folder.best_checkpoint, prepared.labels) if prepared.multilabel else []
    report: dict[str, Any] = {
        "run_id": module.run_id,
        "model": config.model.name,
        "labels": prepared.labels,
        "checkpoint": folder.BEST_CHECKPOINT,
        "best_epoch": recorder.best_epoch,
        "split_method": prepared.plan.method,
        "counts": {split: prepared.counts(split) for split in prepared.splits},
        "bad_files": [{"path": display_path(p), "reason": display_path(r)} for p, r in prepared.bad_files],
    }
    for split in ("val", "test"):
        if split in prepared.splits:
            report[split] = split_report(module, prepared, prepared.splits[split], config.train.batch_size, thresholds)
    headline = ("accuracy", "macro_f1", "per_class") + (("map",) if prepared.multilabel else ("confusion_matrix",))
    report.update({k: report["val"][k] for k in headline})
    if prepared.multilabel:
        train = config.train
        section = {
            **report["val"],
            "threshold_rule": train.threshold_rule,
            "target_precision": train.target_precision if train.threshold_rule == "target_precision" else None,
        }
        report.update(
            objective=train.objective,
            thresholds=dict(zip(prepared.labels, thresholds, strict=True)),
            **{MULTILABEL_REPORT_KEY: MultilabelReport.model_validate(finite_json(section)).model_dump(mode="json")},
        )
    if isinstance(prepared.spec, ImageSpec) and prepared.spec.channels == 3:  # prepared.kind == "image"
        # night cameras shoot monochrome IR: the same validation (and test) photos in grey, beside the colour figures
        for split in ("val", "test"):
            if split in prepared.splits:
                data = prepared.splits[split]
                # photos are decoded arrays (only audio is seekable); SplitData's list holds either
                grey = grey_photos(cast(list[np.ndarray], data.arrays))
                grey_split = SplitData(cast(list[AudioClip], grey), data.labels, data.paths, data.targets)
                batch = config.train.batch_size
                report[f"{split}_grey"] = split_report(module, prepared, grey_split, batch, thresholds)
        report["grey_accuracy"] = report["val_grey"]["accuracy"]
    report["warnings"] = [
        warning
        for split in ("val", "test")
        if split in report
        for warning in [accuracy_warning(report[split]["accuracy"], report[split]["samples"], f"{split} clips")]
        if warning
    ]
    write_report(folder.report_file, report)
    plot_curves(folder.metrics, folder.curves)
    if prepared.multilabel:  # no confusion matrix: a clip may be right about one class and wrong about another
        return report
    plot_confusion_matrix(
        report["val"]["confusion_matrix"],
        prepared.labels,
        folder.confusion_matrix,
        f"{config.model.name} validation (accuracy {report['val']['accuracy']:.1%})",
    )
    return report
