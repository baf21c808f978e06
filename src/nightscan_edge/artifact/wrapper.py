"""What gets exported: the trained model + its front-end + temperature-scaled softmax (or sigmoid), as one module.

Audio models take the raw waveform ``(batch, clip_samples)`` and run the LogMel front-end inside the
graph (``forward_waveform``), so the phone computes nothing by hand; photo models take the normalised
NCHW image. Every artifact returns ``softmax(logits / temperature)``: calibrated probabilities; a multi-label
model's returns ``sigmoid(logits / temperature)``, one independent score per class (``objective.activation_for``).
The graph's tensor names (``INPUT_NAME``, ``OUTPUT_NAME``) are the manifest's (``artifact.manifest``).

It sits beside the format files because every converter takes it; importing it loads torch, so the format
table (``nightscan_edge.artifact``) names it for type checking only.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from nightscan_edge.models import AudioClassifier, EdgeClassifier
from nightscan_edge.objective import OutputActivation

__all__ = ["ExportableClassifier", "example_input"]


class ExportableClassifier(nn.Module):
    inverse_temperature: torch.Tensor

    def __init__(
        self, model: EdgeClassifier, temperature: float = 1.0, activation: OutputActivation = "softmax"
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive; got {temperature}")
        if activation not in ("softmax", "sigmoid"):
            raise ValueError(f"activation must be softmax or sigmoid; got {activation!r}")
        self.model = model.eval()
        self.activation: OutputActivation = activation
        self.is_audio = model.input_kind == "audio"
        self.register_buffer("inverse_temperature", torch.tensor(1.0 / float(temperature)), persistent=False)
        self.eval()  # converters check the top module's flag too (litert-torch warns on training mode)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.is_audio:
            return cast(AudioClassifier, self.model).forward_waveform(x)
        logits: torch.Tensor = self.model(x)
        return logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scaled = self.logits(x) * self.inverse_temperature
        if self.activation == "sigmoid":
            return torch.sigmoid(scaled)
        return torch.softmax(scaled, dim=-1)


def example_input(model: EdgeClassifier, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """A deterministic input of the exported shape (tracing only; parity uses real samples)."""
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, *model.spec.input_shape)
    scale = 0.1 if model.input_kind == "audio" else 1.0
    return torch.randn(shape, generator=generator) * scale
