"""INT8 leaves a convolutional ``log_mel`` front-end float (BirdNET's spectrogram kernels in
``birdnet_backbone_audio``): found by the module path the exporter records, which pre-processing would drop."""

from __future__ import annotations

import onnx
import pytest
import torch
from torch import nn

from nightscan_edge.artifact.onnx import front_end_nodes, quantizable_nodes


class _Kernels(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernel", torch.randn(4, 1, 16))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv1d(waveform.unsqueeze(1), self.kernel, stride=8).unsqueeze(1)


class _Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.log_mel = _Kernels()
        self.stem = nn.Conv2d(1, 2, 1)
        self.body = nn.Conv2d(2, 2, 1)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.body(self.stem(self.log_mel(waveform)))


def test_front_end_convolutions_stay_float_and_the_first_other_one_too(tmp_path):
    pytest.importorskip("onnxscript")
    path = tmp_path / "model.onnx"
    torch.onnx.export(_Model().eval(), (torch.randn(1, 64),), str(path), dynamo=True)
    model = onnx.load(str(path))
    convolutions = [n.name for n in model.graph.node if n.op_type == "Conv"]
    front_end = front_end_nodes(model)
    assert len(convolutions) == 3 and front_end & set(convolutions) == {convolutions[0]}
    assert quantizable_nodes(model, front_end) == [convolutions[2]]  # the stem stays float, as for every model
