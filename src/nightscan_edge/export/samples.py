"""Inputs for parity, calibration and the INT8 gate, and PyTorch's reference answers on them.

Real validation (and training) inputs from the run when its data is still there; generated inputs otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nightscan_edge.artifact import Runner
from nightscan_edge.artifact.wrapper import ExportableClassifier, example_input
from nightscan_edge.checkpoint import TrainedModel
from nightscan_edge.config import ExportConfig
from nightscan_edge.data.samples import load_run_samples

_TORCH_BATCH = 32


@dataclass
class Samples:
    validation: np.ndarray
    validation_labels: np.ndarray | None  # None when generated
    calibration: np.ndarray | None  # training inputs for INT8; None when the data is unavailable
    source: str
    data_problem: str | None = None


def load_samples(run_dir: Path, trained: TrainedModel, config: ExportConfig, want_int8: bool) -> Samples:
    """Real validation (and training) inputs from the run; generated inputs when the data is gone."""
    try:
        inputs, labels, _ = load_run_samples(run_dir, "val", limit=config.validation_samples, seed=0)
        calibration = None
        if want_int8:
            calibration, _, _ = load_run_samples(run_dir, "train", limit=config.calibration_samples, seed=1)
        return Samples(inputs, labels, calibration, f"validation split ({len(labels)} inputs)")
    except (ValueError, OSError) as error:  # DataError is a ValueError; files may be gone
        generated = example_input(trained.model, batch=config.parity_samples, seed=0).numpy()
        return Samples(
            generated, None, None, f"generated ({len(generated)} inputs; run data unavailable)", data_problem=str(error)
        )


def torch_predict(module: ExportableClassifier, inputs: np.ndarray, logits: bool = False) -> np.ndarray:
    outputs = []
    with torch.no_grad():
        for start in range(0, len(inputs), _TORCH_BATCH):
            batch = torch.from_numpy(np.ascontiguousarray(inputs[start : start + _TORCH_BATCH]))
            outputs.append((module.logits(batch) if logits else module(batch)).numpy())
    return np.concatenate(outputs).astype(np.float32)


def runner_predict(runner: Runner, inputs: np.ndarray, batch: int = 16) -> np.ndarray:
    return np.concatenate([runner.predict(inputs[i : i + batch]) for i in range(0, len(inputs), batch)])


def size_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
