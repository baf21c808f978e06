"""The figures a user needs to trust a model: per-class precision/recall/F1, macro-F1 and the confusion
matrix (torchmetrics) -> ``report.json``; loss/accuracy curves and the confusion matrix as PNG."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)

from nightscan_edge.atomic import finite_json, write_json_atomic


def classification_report(predictions: torch.Tensor, targets: torch.Tensor, labels: list[str]) -> dict[str, Any]:
    n = len(labels)
    per_class = {
        "precision": multiclass_precision(predictions, targets, n, average=None),
        "recall": multiclass_recall(predictions, targets, n, average=None),
        "f1": multiclass_f1_score(predictions, targets, n, average=None),
    }
    support = torch.bincount(targets, minlength=n)
    return {
        "accuracy": float(multiclass_accuracy(predictions, targets, n, average="micro")),
        "macro_f1": float(multiclass_f1_score(predictions, targets, n, average="macro")),
        "per_class": {
            label: {
                "precision": float(per_class["precision"][i]),
                "recall": float(per_class["recall"][i]),
                "f1": float(per_class["f1"][i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion_matrix": multiclass_confusion_matrix(predictions, targets, n).tolist(),
        "samples": int(targets.numel()),
    }


def plot_curves(metrics_csv: Path, out: Path) -> None:
    # pyplot only after choosing the file backend (no display on servers and workers)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with Path(metrics_csv).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    epochs = [int(r["epoch"]) for r in rows]  # one-based in metrics.csv
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for key, axis, name in (
        ("train_loss", loss_axis, "train"),
        ("val_loss", loss_axis, "val"),
        ("train_acc", acc_axis, "train"),
        ("val_acc", acc_axis, "val"),
    ):
        axis.plot(epochs, [float(r[key]) for r in rows], marker="o", markersize=3, label=name)
    loss_axis.set(title="loss", xlabel="epoch")
    acc_axis.set(title="accuracy", xlabel="epoch", ylim=(0, 1))
    for axis in (loss_axis, acc_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def plot_confusion_matrix(matrix: list[list[int]], labels: list[str], out: Path, title: str) -> None:
    # pyplot only after choosing the file backend (no display on servers and workers)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = np.asarray(matrix)
    size = max(4.0, 0.6 * len(labels) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(values, cmap="Blues")
    axis.set(xticks=range(len(labels)), yticks=range(len(labels)), xlabel="predicted", ylabel="true", title=title)
    axis.set_xticklabels(labels, rotation=45, ha="right")
    axis.set_yticklabels(labels)
    threshold = values.max() / 2 if values.size else 0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            axis.text(
                j,
                i,
                str(values[i, j]),
                ha="center",
                va="center",
                color="white" if values[i, j] > threshold else "black",
            )
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def write_report(path: Path, report: dict[str, Any]) -> None:
    write_json_atomic(path, finite_json(report))
