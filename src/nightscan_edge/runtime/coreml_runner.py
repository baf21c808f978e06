"""Core ML runner (macOS only: coremltools can predict only where the Core ML framework exists)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nightscan_edge.runtime.base import check_input, run_per_sample


class CoreMLRunner:
    format = "coreml"
    dynamic_batch = False

    def __init__(self, path: Path, manifest: dict[str, Any], threads: int | None = None) -> None:
        import coremltools

        self.path, self.manifest = path, manifest
        self.model = coremltools.models.MLModel(str(path), compute_units=coremltools.ComputeUnit.CPU_ONLY)
        self.input_name = manifest["input"]["name"]
        self.output_name = manifest["output"]["name"]

    def _run(self, x: np.ndarray) -> np.ndarray:
        output = self.model.predict({self.input_name: x})[self.output_name]
        if isinstance(output, dict):  # classifier output: {label: probability}
            return np.asarray([[output[label] for label in self.manifest["labels"]]], dtype=np.float32)
        return np.asarray(output, dtype=np.float32).reshape(1, -1)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return run_per_sample(self._run, check_input(x, self.manifest))
