"""Model complexity: parameters, FP32/INT8 size, FLOPs/MACs and a mobile-compatibility verdict.

FLOPs come from torch's own ``torch.utils.flop_counter.FlopCounterMode`` (counts matmul/conv FLOPs,
2 per multiply-add), so they match how torchvision publishes its figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchvision.ops import StochasticDepth

from nightscan_edge.spec import AudioSpec, ImageSpec

BYTES_PER_MB = 1024 * 1024
# Modules every mobile runtime (LiteRT/NNAPI/GPU delegates, Core ML, XNNPACK) runs natively.
_MOBILE_FRIENDLY = (
    nn.Conv2d,
    nn.Linear,
    nn.BatchNorm2d,
    nn.ReLU,
    nn.ReLU6,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.SiLU,
    nn.Sigmoid,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.ZeroPad2d,
    nn.Dropout,
    nn.Identity,
    nn.ZeroPad2d,  # TensorFlow-style "SAME" padding (EfficientNet-Lite): a Pad op every runtime has
    StochasticDepth,  # identity at inference: never exported
    nn.Flatten,
    nn.Sequential,
    nn.ModuleList,
)
MOBILE_MAX_MB = 10.0
# A model above MOBILE_MAX_MB in FP32 still ships to phones as its INT8 file when that meets the photo budget
# (EfficientNet-Lite0: 13 MB FP32, ~3.5 MB INT8).
MOBILE_MAX_INT8_MB = 8.0


@dataclass(frozen=True)
class ModelComplexity:
    params: int
    model_size_mb: float  # FP32 weights + persistent buffers
    int8_size_mb: float  # weights of conv/linear as int8, the rest FP32
    flops: int  # one forward at batch 1 on the model's training input
    macs: int
    frontend_flops: int  # log-mel front-end (audio models), 0 otherwise
    mobile_compatible: bool
    mobile_issues: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def count_flops(
    module: nn.Module, example: torch.Tensor, forward: Callable[[torch.Tensor], object] | None = None
) -> int:
    """FLOPs of one call, counted by torch (matmul and convolution, 2 FLOPs per MAC)."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            (forward or module)(example)
    finally:
        module.train(was_training)
    return int(counter.get_total_flops())


def example_input(model: nn.Module, batch: int = 1) -> torch.Tensor:
    """A zero tensor shaped like one training input of ``model`` (spectrogram, image, or the model's own)."""
    own = getattr(model, "example_input", None)
    if callable(own):
        example: torch.Tensor = own(batch)
        return example
    spec = _spec_of(model)
    shape = spec.spectrogram_shape if isinstance(spec, AudioSpec) else spec.input_shape
    return torch.zeros(batch, *shape)


def _spec_of(model: nn.Module) -> AudioSpec | ImageSpec:
    spec = getattr(model, "spec", None)
    if not isinstance(spec, AudioSpec | ImageSpec):
        raise TypeError(f"{type(model).__name__} has no preprocessing spec and no example_input(batch)")
    return spec


def get_model_complexity(model: nn.Module) -> dict[str, Any]:
    """The seed's facade: returns a dict with params, model_size_mb, int8_size_mb, flops, macs,
    mobile_compatible and mobile_issues (why not)."""
    return measure_complexity(model).as_dict()


def measure_complexity(model: nn.Module) -> ModelComplexity:
    params = sum(p.numel() for p in model.parameters())
    persistent_buffers = sum(
        b.numel() for name, b in model.state_dict().items() if name not in dict(model.named_parameters())
    )
    int8_weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    fp32_bytes = 4 * (params + persistent_buffers)
    int8_bytes = int8_weights + 4 * (params - int8_weights)  # BN folds into convs on export; biases stay FP32
    flops = count_flops(model, example_input(model))
    frontend_flops = 0
    log_mel = getattr(model, "log_mel", None)
    if log_mel is not None:
        spec = _spec_of(model)
        if not isinstance(spec, AudioSpec):
            raise TypeError(f"{type(model).__name__} has a log-mel front-end but a {type(spec).__name__}")
        frontend_flops = count_flops(log_mel, torch.zeros(1, spec.clip_samples))
    issues = []
    for name, module in model.named_modules():
        if (
            len(list(module.children())) == 0
            and not isinstance(module, _MOBILE_FRIENDLY)
            and name
            and not name.startswith("log_mel")
        ):
            issues.append(f"layer '{name}' ({module.__class__.__name__}) may not run on mobile delegates")
    if getattr(model, "takes_embeddings", False):
        issues.append(
            "runs behind frozen BirdNET (52 MB FP32, LiteRT): a phone gets BirdNET's own LiteRT graph + the head "
            "(LiteRT only, far above the edge budgets; docs/birdnet.md)"
        )
    size_mb = fp32_bytes / BYTES_PER_MB
    int8_mb = int8_bytes / BYTES_PER_MB
    if size_mb > MOBILE_MAX_MB and int8_mb >= MOBILE_MAX_INT8_MB:
        issues.append(
            f"FP32 size {size_mb:.1f} MB exceeds {MOBILE_MAX_MB:.0f} MB for on-device use "
            f"(and INT8 {int8_mb:.1f} MB is not under {MOBILE_MAX_INT8_MB:.0f} MB)"
        )
    return ModelComplexity(
        params=params,
        model_size_mb=round(size_mb, 4),
        int8_size_mb=round(int8_mb, 4),
        flops=flops,
        macs=flops // 2,
        frontend_flops=frontend_flops,
        mobile_compatible=not issues,
        mobile_issues=issues,
    )
