"""ExecuTorch runner (``executorch.runtime``; the .pte carries its XNNPACK-delegated graph)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nightscan_edge.runtime.base import check_input, run_per_sample


class ExecuTorchRunner:
    format = "executorch"
    # Programs are exported with a fixed batch of 1: dynamic shapes through the XNNPACK delegate still
    # fail for the waveform front-end's reshapes in ExecuTorch 1.x.
    dynamic_batch = False

    def __init__(self, path: Path, manifest: dict[str, Any], threads: int | None = None) -> None:
        import torch
        from executorch.runtime import Runtime, Verification

        self.path, self.manifest = path, manifest
        self._torch = torch
        if threads:
            torch.set_num_threads(threads)  # the portable kernels' pool; XNNPACK sizes its own from it
        program = Runtime.get().load_program(path, verification=Verification.Minimal)
        self.method = program.load_method("forward")

    def _run(self, x: np.ndarray) -> np.ndarray:
        outputs = self.method.execute([self._torch.from_numpy(x)])
        return outputs[0].detach().numpy().copy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        return run_per_sample(self._run, check_input(x, self.manifest))
