"""The figures to trust a run: the best checkpoint evaluated on validation (and test) into ``report.json``,
the learning curves and the confusion matrix."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader

from nightscan_edge.audio.recording import AudioClip
from nightscan_edge.config import Config
from nightscan_edge.data.night_frames import grey_photos
from nightscan_edge.data.prepare import PreparedData, SplitData
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
def predict_split(module: ClassifierModule, prepared: PreparedData, split: SplitData, batch_size: int) -> torch.Tensor:
    """Clip-level predicted class per file of a split (windows averaged)."""
    dataset, collate = eval_dataset(prepared, split)
    module.eval()
    predictions = []
    for windows, labels, owner in DataLoader(dataset, batch_size=batch_size, collate_fn=collate):
        predictions.append(module.clip_probabilities(windows, owner, labels.numel()).argmax(1))
    return torch.cat(predictions)


def final_report(
    folder: RunFolder, module: ClassifierModule, prepared: PreparedData, config: Config, recorder: RunRecorder
) -> dict[str, Any]:
    best = load_torch_file(folder.best_checkpoint)
    module.load_state_dict(best["state_dict"], strict=False)
    module.cpu()
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
            data = prepared.splits[split]
            predictions = predict_split(module, prepared, data, config.train.batch_size)
            report[split] = classification_report(predictions, torch.tensor(data.labels), prepared.labels)
    report.update({k: report["val"][k] for k in ("accuracy", "macro_f1", "per_class", "confusion_matrix")})
    if isinstance(prepared.spec, ImageSpec) and prepared.spec.channels == 3:  # prepared.kind == "image"
        # night cameras shoot monochrome IR: the same validation (and test) photos in grey, beside the colour figures
        for split in ("val", "test"):
            if split in prepared.splits:
                data = prepared.splits[split]
                # photos are decoded arrays (only audio is seekable); SplitData's list holds either
                grey = grey_photos(cast(list[np.ndarray], data.arrays))
                grey_split = SplitData(cast(list[AudioClip], grey), data.labels, data.paths)
                predictions = predict_split(module, prepared, grey_split, config.train.batch_size)
                report[f"{split}_grey"] = classification_report(predictions, torch.tensor(data.labels), prepared.labels)
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
    plot_confusion_matrix(
        report["val"]["confusion_matrix"],
        prepared.labels,
        folder.confusion_matrix,
        f"{config.model.name} validation (accuracy {report['val']['accuracy']:.1%})",
    )
    return report
