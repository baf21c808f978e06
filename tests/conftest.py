"""Shared fixtures: small generated audio/photo data sets, and the optional real data in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NIGHTSCAN_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def shared_dataset(name: str, marker: str = "manifest.csv") -> Path:
    """Path to a real data set under ../shared/data (``marker`` is a file it must hold), or skip with the reason."""
    path = SHARED_DATA / name
    if not (path / marker).is_file():
        pytest.skip(f"real data set {path} not present (../shared/data is only beside the repo in development/CI)")
    return path


@pytest.fixture
def animal_sounds() -> Path:
    return shared_dataset("animal-sounds")


@pytest.fixture
def cifar10_animals() -> Path:
    return shared_dataset("cifar10-animals")


@pytest.fixture
def site_ambient() -> Path:
    """56 real 10 s Song Meter SM4 recordings of one site (``S4A03895_YYYYMMDD_HHMMSS.wav``), no manifest."""
    return shared_dataset("site-ambient", marker="README.md")


def write_tone(
    path: Path,
    frequency_hz: float,
    seconds: float,
    sample_rate: int,
    channels: int = 1,
    seed: int = 0,
    subtype: str | None = None,
) -> Path:
    import soundfile

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    signal = 0.5 * np.sin(2 * np.pi * frequency_hz * t) + 0.01 * rng.standard_normal(t.size)
    data = np.stack([signal] * channels, axis=1) if channels > 1 else signal
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), data.astype(np.float32), sample_rate, subtype=subtype)
    return path


def write_set_with_a_long_clip(root: Path) -> tuple[Path, Path]:
    """Three classes of four 1 s tones at 8 kHz, and a 90 s recording among the first class's clips: a whole
    night dropped into a class folder, in miniature. Returns the set and the recording."""
    import soundfile

    rate, rng = 8000, np.random.default_rng(0)
    for label, frequency in (("owl", 500), ("fox", 900), ("bat", 1500)):
        (root / label).mkdir(parents=True)
        for index in range(4):
            t = np.arange(rate) / rate
            tone = 0.4 * np.sin(2 * np.pi * (frequency + 40 * index) * t) + 0.01 * rng.standard_normal(t.size)
            soundfile.write(root / label / f"{label}{index}.wav", tone.astype(np.float32), rate)
    night = root / "owl" / "night.wav"
    soundfile.write(night, (0.01 * rng.standard_normal(90 * rate)).astype(np.float32), rate)
    return root, night
