"""PyTorch eager execution of the trained checkpoint, shaped like a runtime ``Runner``.

It is the baseline every exported file is compared with: same input (raw waveform for audio, normalised
image for photos), same output (probabilities with the calibration temperature; a multi-label model's per-class
sigmoid scores, as its exported files give them), run in eager mode.
"""

from __future__ import annotations

import numpy as np
import torch

from nightscan_edge.checkpoint import TrainedModel


class EagerRunner:
    format = "pytorch"
    dynamic_batch = True

    def __init__(self, trained: TrainedModel, threads: int) -> None:
        self.trained = trained
        self.threads = threads
        self.model = trained.model.eval()
        self._forward = getattr(self.model, "forward_waveform", None) if trained.spec.kind == "audio" else None
        self._temperature = float(trained.temperature or 1.0)
        self._multilabel = trained.multilabel

    def predict(self, x: np.ndarray) -> np.ndarray:
        # torch's thread count is process-wide; set it on every call because other runners change it.
        torch.set_num_threads(self.threads)
        with torch.inference_mode():
            inputs = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            logits = (self._forward or self.model)(inputs)
            if self._multilabel:
                return torch.sigmoid(logits).numpy()
            return torch.softmax(logits / self._temperature, dim=-1).numpy()
