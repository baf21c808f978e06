"""Hardware options a machine cannot honour are one line each, before the run folder exists."""

from __future__ import annotations

import pytest
import torch

from nightscan_edge.config import TrainConfig
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.train import train
from nightscan_edge.train.devices import launched_rank, plan_devices
from tests.train.conftest import tiny_audio_config


def _one_gpu(monkeypatch, bf16: bool = True) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Tesla T4")


def test_gpu_asked_without_a_gpu_fails_before_the_run_folder_exists(synth_audio, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"--accelerator gpu: no GPU is visible here .* --accelerator cpu"):
        train(tiny_audio_config(synth_audio, accelerator="gpu"), run_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_more_devices_than_gpus_bf16_without_support_and_fp16_on_cpu_are_refused(monkeypatch):
    _one_gpu(monkeypatch, bf16=False)
    with pytest.raises(ConfigError, match=r"--devices 4: this machine has 1 CUDA GPU"):
        plan_devices(TrainConfig(accelerator="gpu", devices="4"))
    with pytest.raises(ConfigError, match=r"--devices 0,2: this machine has 1 CUDA GPU"):
        plan_devices(TrainConfig(accelerator="gpu", devices="0,2"))
    with pytest.raises(ConfigError, match="Tesla T4 has no bfloat16 support; use 16-mixed or 32"):
        plan_devices(TrainConfig(accelerator="gpu", devices="1", precision="bf16-mixed"))
    plan = plan_devices(TrainConfig(accelerator="gpu", devices="1", precision="16-mixed"))
    assert (plan.accelerator, plan.devices, plan.precision, plan.on_cuda) == ("cuda", 1, "16-mixed", True)
    with pytest.raises(ConfigError, match="16-mixed needs a CUDA GPU"):
        plan_devices(TrainConfig(accelerator="cpu", precision="16-mixed"))
    assert plan_devices(TrainConfig(accelerator="cpu", precision="32")).precision == "32-true"
    with pytest.raises(ConfigError, match="train.devices must be auto, a count or a list"):
        plan_devices(TrainConfig(accelerator="cpu", devices="two"))


def test_rank_comes_from_the_launcher_environment(monkeypatch):
    for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert launched_rank() == 0
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert launched_rank() == 1
    monkeypatch.setenv("SLURM_PROCID", "3")
    assert launched_rank() == 3
