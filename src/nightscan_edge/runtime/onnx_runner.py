"""ONNX Runtime (CPU execution provider) runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nightscan_edge.runtime.base import check_input, run_per_sample


class OnnxRunner:
    format = "onnx"

    def __init__(self, path: Path, manifest: dict[str, Any], threads: int | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.path, self.manifest = path, manifest
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.dynamic_batch = not isinstance(model_input.shape[0], int)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = check_input(x, self.manifest)
        if not self.dynamic_batch:
            return run_per_sample(lambda item: self.session.run(None, {self.input_name: item})[0], x)
        return self.session.run(None, {self.input_name: x})[0]
