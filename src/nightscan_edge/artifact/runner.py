"""The one interface every runtime answers: ``manifest``, ``predict(x) -> probabilities``, ``dynamic_batch``.

Each format's runner lives in that format's file (``ArtifactFormat.open_runner``); ``nightscan_edge.runtime``
opens any file through them. A runner refuses a file without a NightScan manifest: without it nobody knows
the labels, the preprocessing or whether the output is already calibrated.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nightscan_edge.artifact.errors import RuntimeUnavailableError

__all__ = ["Runner", "RuntimeUnavailableError", "check_input", "run_per_sample"]


class Runner(Protocol):
    path: Path
    manifest: dict[str, Any]
    format: str
    dynamic_batch: bool

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``(N, *input_shape)`` float32 -> ``(N, classes)`` probabilities."""


def check_input(x: np.ndarray, manifest: dict[str, Any]) -> np.ndarray:
    """Validate the sample shape against the manifest and return a contiguous float32 batch."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    expected = tuple(manifest["input"]["shape"][1:])
    if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != expected:
        raise ValueError(
            f"input of shape {tuple(x.shape)} does not match the model's (batch, {', '.join(str(d) for d in expected)})"
        )
    return x


def run_per_sample(run_one: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Batch-1 models: run each sample and stack (the runner still takes any batch)."""
    if len(x) == 0:
        raise ValueError("empty input batch")
    return np.concatenate([run_one(x[i : i + 1]) for i in range(len(x))], axis=0)
