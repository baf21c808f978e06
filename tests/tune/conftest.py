"""Tiny tune set-ups: a generated audio set, a tiny spectrogram and network, ONNX only, few bench iterations."""

from __future__ import annotations

from pathlib import Path

import pytest

from nightscan_edge.data import write_synthetic_dataset

pytest.importorskip("optuna", reason="the tune extra (pip install 'nightscan-edge[tune]') is not installed")

# every trial: a 16 x 33 log-mel, batch 8, one pass per epoch, small export and bench samples
TINY_SETS = (
    "model.audio.clip_samples=4096",
    "model.audio.hop_length=128",
    "train.batch_size=8",
    "train.min_steps_per_epoch=0",
    "data.audio_augment.freq_mask_width=3",
    "data.audio_augment.time_mask_width=4",
    "export.validation_samples=16",
    "export.calibration_samples=16",
    "export.parity_samples=8",
    "export.int8_float_fallback=0",
    "bench.iterations=3",
    "bench.warmup=1",
)
TINY_SPACE = "width_multiplier: {low: 0.25, high: 0.3}\nn_fft: 512\nn_mels: 16\nhop_length: 128\npruning_ratio: 0.0\n"


def tiny_tune_args(data: Path, budget: Path, space: Path, out: Path, *extra: str) -> list[str]:
    """``nightscan-edge tune`` arguments for the tiny set-up (ultralight_audio, ONNX, 1 epoch)."""
    sets = [arg for item in TINY_SETS for arg in ("--set", item)]
    return ["tune", "--data", str(data), "--model", "ultralight_audio", "--budget", str(budget), "--space",
            str(space), "--out", str(out), "--epochs", "1", "--formats", "onnx", *sets, *extra]  # fmt: skip


@pytest.fixture
def tiny_space(tmp_path: Path) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(TINY_SPACE)
    return path


@pytest.fixture
def roomy_budget(tmp_path: Path) -> Path:
    path = tmp_path / "budget.yaml"
    # FP32 only: whether a barely trained tiny model's INT8 file passes its gate is a coin flip on 16 inputs
    path.write_text("formats: [onnx]\nprecisions: [fp32]\nmax_mb: 5\nmax_latency_ms: 500\n")
    return path


@pytest.fixture(scope="session")
def tune_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_dataset(tmp_path_factory.mktemp("tune") / "audio", per_class=6, seed=1)
