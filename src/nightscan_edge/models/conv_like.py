"""A Conv2d shaped like another with new channel counts.

Pruning resizes convolutions, and a grey (one-channel) photo stem replaces an RGB one; both keep the layer's
kernel, stride, padding, dilation, bias and padding mode, so they are built here in one place.
"""

from __future__ import annotations

from torch import nn


def _pair(values: tuple[int, ...]) -> tuple[int, int]:
    """torch types a convolution's sizes as ``tuple[int, ...]`` (shared with Conv1d/3d); a Conv2d's are pairs."""
    first, second = values
    return first, second


def conv2d_like(conv: nn.Conv2d, in_channels: int, out_channels: int, groups: int = 1) -> nn.Conv2d:
    """A fresh (untrained) Conv2d with ``conv``'s geometry and ``in_channels -> out_channels``."""
    return nn.Conv2d(
        in_channels,
        out_channels,
        _pair(conv.kernel_size),
        stride=_pair(conv.stride),
        padding=conv.padding if isinstance(conv.padding, str) else _pair(conv.padding),
        dilation=_pair(conv.dilation),
        groups=groups,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
    )
