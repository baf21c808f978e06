"""LiteRT (TFLite) runner on ``ai_edge_litert.interpreter.Interpreter`` with the XNNPACK CPU delegate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nightscan_edge.quiet import native_noise_filtered
from nightscan_edge.runtime.base import check_input, run_per_sample


class LiteRTRunner:
    format = "tflite"

    def __init__(self, path: Path, manifest: dict[str, Any], threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path, self.manifest = path, manifest
        self.interpreter = Interpreter(model_path=str(path), num_threads=threads or None)
        with native_noise_filtered():  # the XNNPACK banner the C++ runtime prints on the first allocation
            self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        signature = self._input.get("shape_signature", self._input["shape"])
        self.dynamic_batch = int(signature[0]) == -1
        self._batch = int(self._input["shape"][0])

    def _run(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0] != self._batch:
            self.interpreter.resize_tensor_input(self._input["index"], list(x.shape))
            self.interpreter.allocate_tensors()
            self._batch = x.shape[0]
        self.interpreter.set_tensor(self._input["index"], x)
        self.interpreter.invoke()
        return np.array(self.interpreter.get_tensor(self._output["index"]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = check_input(x, self.manifest)
        if self.dynamic_batch:
            return self._run(x)
        return run_per_sample(self._run, x)
