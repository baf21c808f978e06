"""How an audio CNN turns its last feature map (batch, channels, frequency, time) into one vector per window.

``avg`` averages over frequency and time, as image classifiers do. ``avg_max`` is the pooling of the PANNs audio
taggers (Kong et al. 2020, Cnn14): average over frequency, then the maximum plus the mean over time. A call that
fills a quarter of the window keeps its full strength in the maximum, where a global average dilutes it by the
silent rest; that matters for multi-label windows, where a second species often calls in part of the window only.
Neither has parameters, so a model's size and budget do not change; both export to every format (a mean and a
max reduction).
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import nn

AudioPooling = Literal["avg", "avg_max"]
AUDIO_POOLINGS: tuple[str, ...] = get_args(AudioPooling)


class TimeFrequencyPool(nn.Module):
    """(batch, channels, frequency, time) -> (batch, channels) by ``mode`` (see the module docstring)."""

    def __init__(self, mode: str = "avg") -> None:
        super().__init__()
        if mode not in AUDIO_POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(AUDIO_POOLINGS)}; got {mode!r}")
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "avg":  # the graph every earlier export had (a global average pool)
            return nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        over_time = x.mean(dim=2)
        return over_time.amax(dim=2) + over_time.mean(dim=2)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"
