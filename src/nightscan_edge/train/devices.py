"""Devices, precision and layout for a run, checked before anything is written.

Lightning would find most of these problems too, but only after the run folder exists and data is decoded,
with a traceback; here each one is a single line that says what to do (``--accelerator gpu`` without a GPU,
more ``--devices`` than GPUs, ``bf16-mixed`` where the hardware has no bfloat16, ``16-mixed`` on a CPU).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, TypeVar

import torch

from nightscan_edge.config import Config, TrainConfig
from nightscan_edge.config_layers import ConfigError

# The precisions a run can ask Lightning for ("32" in the config means "32-true").
Precision = Literal["32-true", "bf16-mixed", "16-mixed"]
ModelT = TypeVar("ModelT", bound=torch.nn.Module)

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
RUN_DIR_ENV = "NIGHTSCAN_EDGE_RUN_DIR"  # rank 0 -> the processes Lightning's DDP launcher starts


def launched_rank() -> int:
    """This process's rank as its launcher set it before training (Lightning's DDP launcher: LOCAL_RANK and
    NODE_RANK for the processes it starts; torchrun: RANK; SLURM: SLURM_PROCID); 0 for the first process."""
    for name in ("RANK", "SLURM_PROCID"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    local, node = os.environ.get("LOCAL_RANK", "0"), os.environ.get("NODE_RANK", "0")
    return int(local) + int(node) if local.isdigit() and node.isdigit() else 0


@dataclass(frozen=True)
class DevicePlan:
    accelerator: str  # what runs the batches: cpu, cuda or mps
    devices: int | list[int] | str  # what Lightning takes
    precision: Precision  # Lightning's name

    @property
    def on_cuda(self) -> bool:
        return self.accelerator == "cuda"


def parse_devices(devices: str) -> int | list[int] | str:
    """``"auto"``, ``"2"`` or ``"0,1"`` (the CLI's text) -> what Lightning takes."""
    text = str(devices).strip()
    if text in ("auto", "-1"):
        return text if text == "auto" else -1
    if text.isdigit():
        return int(text)
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"train.devices must be auto, a count or a list like 0,1; got {devices!r}") from None


def _resolve_accelerator(train: TrainConfig) -> str:
    wanted = train.accelerator.strip().lower()
    if wanted not in ACCELERATORS:
        raise ConfigError(f"train.accelerator={train.accelerator!r} is not one of {', '.join(ACCELERATORS)}")
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if wanted in ("gpu", "cuda"):
        if torch.cuda.is_available():
            return "cuda"
        if wanted == "gpu" and mps:
            return "mps"
        raise ConfigError(
            f"--accelerator {train.accelerator}: no GPU is visible here (torch.cuda.is_available() is "
            "False); train with --accelerator cpu (or auto), or check the CUDA driver and CUDA_VISIBLE_DEVICES"
        )
    if wanted == "mps" and not mps:
        raise ConfigError("--accelerator mps: Apple's Metal backend is not available here; use --accelerator cpu")
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else ("mps" if mps else "cpu")
    return wanted


def plan_devices(train: TrainConfig) -> DevicePlan:
    accelerator = _resolve_accelerator(train)
    devices = parse_devices(train.devices)
    if accelerator == "cuda":
        present = torch.cuda.device_count()
        asked = devices if isinstance(devices, int) and devices > 0 else None
        missing = [d for d in devices if d >= present] if isinstance(devices, list) else []
        if (asked is not None and asked > present) or missing:
            raise ConfigError(
                f"--devices {train.devices}: this machine has {present} CUDA GPU(s) (ids 0-{present - 1}); "
                f"ask for at most {present}, or run on more machines (see docs/throughput.md)"
            )
    precision: Precision = "32-true" if train.precision == "32" else train.precision
    if precision == "16-mixed" and accelerator != "cuda":
        raise ConfigError(
            f"train.precision=16-mixed needs a CUDA GPU (this run is on {accelerator}); use bf16-mixed or 32"
        )
    if precision == "bf16-mixed":
        if accelerator == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError(
                f"train.precision=bf16-mixed: {torch.cuda.get_device_name()} has no bfloat16 support; "
                "use 16-mixed or 32"
            )
        if accelerator == "mps":
            raise ConfigError("train.precision=bf16-mixed is not supported on mps; use 32")
    return DevicePlan(accelerator, devices, precision)


def channels_last(config: Config, on_cuda: bool | None = None) -> bool:
    """Photo models in channels-last memory layout (the same numbers, another memory order): measured 1.7x
    faster training for mobilenet_v3_small_photo on this CPU (docs/throughput.md) and cuDNN's fast layout on
    GPUs, so ``null`` means on for photo models. Audio models take one-channel spectrograms: never."""
    from nightscan_edge.models import MODELS

    if MODELS.get(config.model.name).input_kind != "image":
        return False
    return True if config.train.channels_last is None else config.train.channels_last


def prepare_model(model: ModelT, config: Config, plan: DevicePlan) -> ModelT:
    """Layout, TF32 matmuls on CUDA, and ``torch.compile`` when asked (in place: checkpoint keys unchanged)."""
    if plan.on_cuda:
        torch.set_float32_matmul_precision("high")  # TF32 on Ampere+; float32 weights and optimizer state stay
    if channels_last(config, plan.on_cuda):
        model = model.to(memory_format=torch.channels_last)
    if config.train.compile:
        model.compile()
    return model
