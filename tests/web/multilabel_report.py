"""A hand-made multi-label run folder (report.json ``multilabel`` section, docs/multilabel.md) for the web tests:
the training side writes the section, the web renders it; this is what it looks like."""

from __future__ import annotations

import json
from pathlib import Path

from nightscan_edge.config import resolve_config

LABELS = ["owl", "frog", "cricket"]
MULTILABEL_SECTION = {
    "map": 0.74,
    "threshold_rule": "best_f1",
    "target_precision": None,
    "per_class": {
        "owl": {
            "ap": 0.91,
            "auroc": 0.97,
            "f1": 0.86,
            "precision": 0.9,
            "recall": 0.82,
            "threshold": 0.41,
            "support": 22,
        },
        "frog": {
            "ap": 0.57,
            "auroc": 0.8,
            "f1": 0.6,
            "precision": 0.55,
            "recall": 0.66,
            "threshold": 0.33,
            "support": 12,
        },
        "cricket": {
            "ap": None,
            "auroc": None,
            "f1": 0.0,
            "precision": 0.0,
            "recall": 0.0,
            "threshold": 0.5,
            "support": 0,
        },
    },
    "pr_curves": {
        "owl": {"precision": [1.0, 0.95, 0.9, 0.7], "recall": [0.1, 0.5, 0.82, 1.0], "thresholds": [0.9, 0.6, 0.41]},
        "frog": {"precision": [1.0, 0.6, 0.4], "recall": [0.2, 0.66, 1.0], "thresholds": [0.8, 0.33]},
    },
}


def write_multilabel_run(folder: Path, section: dict | None = None) -> Path:
    """A finished multi-label run folder the web adopts (config, status, labels, report.json)."""
    folder.mkdir(parents=True)
    config = resolve_config({"model": {"name": "ultralight_audio"}, "train": {"objective": "multilabel"}})
    (folder / "config.yaml").write_text(config.to_yaml())
    (folder / "status.json").write_text(json.dumps({"status": "done"}))
    (folder / "labels.txt").write_text("\n".join(LABELS) + "\n")
    report = {"labels": LABELS, "split": "val", "multilabel": MULTILABEL_SECTION if section is None else section}
    (folder / "report.json").write_text(json.dumps(report))
    return folder
