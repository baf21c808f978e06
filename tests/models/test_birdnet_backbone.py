"""``birdnet_backbone_audio`` against BirdNET V2.4 in LiteRT: the same embedding from the same window.

Two levels. The network (everything after the spectrogram) is an exact rebuild: fed LiteRT's own spectrogram it
gives LiteRT's embedding to float32 rounding (< 2e-5) on any input. The whole model, waveform in, is within 1e-4
on broadband audio. On band-limited clips (a recording made at 22 kHz and resampled: digital silence above
11 kHz) neither LiteRT nor any float32 implementation is stable: BirdNET raises the squared mel value to the
power 0.19-0.23, which turns rounding residue of 1e-7 in an empty band into 0.003, so LiteRT's own embedding moves
by more under -140 dBFS of added noise than it differs from this rebuild (see docs/birdnet.md).
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from nightscan_edge.audio import decode_audio
from nightscan_edge.birdnet.embeddings import birdnet_windows
from nightscan_edge.models import create_model
from nightscan_edge.models.birdnet_extractor import BIRDNET_WINDOW_SAMPLES, get_birdnet
from tests.birdnet.conftest import requires_birdnet

pytestmark = requires_birdnet


@pytest.fixture(scope="module")
def model():
    return create_model("birdnet_backbone_audio", num_classes=3).eval()


def _generated(count: int, seed: int = 0) -> np.ndarray:
    """Broadband windows: a tone sweep per window over white noise (every mel band holds signal)."""
    rng = np.random.default_rng(seed)
    t = np.arange(BIRDNET_WINDOW_SAMPLES) / 48000
    return np.stack(
        [
            0.3 * np.sin(2 * np.pi * (1500 + 2000 * i) * t * (1 + t / 6)) + 0.02 * rng.standard_normal(t.size)
            for i in range(count)
        ]
    ).astype(np.float32)


def _real_windows(root, count: int) -> np.ndarray:
    rows = list(csv.DictReader((root / "manifest.csv").open()))
    picked = np.random.default_rng(1).choice(len(rows), count, replace=False)
    return np.concatenate([birdnet_windows(decode_audio(root / rows[i]["path"], 48000))[:1] for i in picked]).astype(
        np.float32
    )


def _embed(model, windows: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.embed(model.log_mel(torch.from_numpy(windows))).numpy()


def test_embedding_matches_litert_within_1e4_on_broadband_audio(model):
    windows = _generated(4)
    difference = np.abs(_embed(model, windows) - get_birdnet(1).embed(windows))
    assert difference.max() < 1e-4, difference.max()


def test_network_after_the_spectrogram_is_an_exact_rebuild(model):
    spectrograms, expected = get_birdnet(1).spectrograms(_generated(2, seed=5))
    with torch.no_grad():
        got = model.embed(torch.from_numpy(spectrograms)).numpy()
    assert np.abs(got - expected).max() < 2e-5
    with torch.no_grad():  # the front-end: the same spectrogram but where a mel value crosses zero (the power
        ours = model.log_mel(torch.from_numpy(_generated(2, seed=5))).numpy()  # magnifies rounding there)
    assert np.percentile(np.abs(ours - spectrograms), 99) < 1e-4


def test_real_clips_network_exact_and_whole_model_closer_than_litert_to_itself(model, animal_sounds):
    windows = _real_windows(animal_sounds, 6)
    spectrograms, litert = get_birdnet(1).spectrograms(windows)
    with torch.no_grad():
        from_litert_spectrogram = model.embed(torch.from_numpy(spectrograms)).numpy()
    assert np.abs(from_litert_spectrogram - litert).max() < 1e-4
    ours = np.abs(_embed(model, windows) - litert).max(axis=1)
    noise = (1e-7 * np.random.default_rng(2).standard_normal(windows.shape)).astype(np.float32)  # -140 dBFS
    litert_itself = np.abs(get_birdnet(1).embed(windows + noise) - litert).max(axis=1)
    assert np.median(ours) < np.median(litert_itself), (ours, litert_itself)


def test_training_mode_changes_only_dropout(model):
    windows = torch.from_numpy(_generated(1))
    spectrogram = model.log_mel(windows)
    model.train()
    try:
        with torch.no_grad():
            assert torch.equal(model.embed(spectrogram), model.eval().embed(spectrogram))
    finally:
        model.eval()


def test_other_tflite_option_is_checked(tmp_path):
    from nightscan_edge.models.birdnet_extractor import BirdNetError

    with pytest.raises(BirdNetError, match="not found"):
        create_model("birdnet_backbone_audio", 3, tflite=str(tmp_path / "missing.tflite"))
