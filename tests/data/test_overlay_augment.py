"""``data.audio_augment.overlay_probability``: two windows of a training batch in one, with the union of their
labels (multi-label only)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nightscan_edge.config import AudioAugmentConfig, ConfigError, resolve_config
from nightscan_edge.data.augment import AudioAugment, overlay
from nightscan_edge.data.batches import AudioBank, TrainBatches
from nightscan_edge.spec import AudioSpec

SPEC = AudioSpec(clip_samples=1000, n_fft=256, hop_length=128, n_mels=16)


def test_overlay_adds_the_partner_at_its_level_and_unites_the_labels():
    windows = torch.stack([torch.full((8,), 1.0), torch.full((8,), 2.0), torch.full((8,), 4.0)])
    targets = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 0]])  # the third row: nothing calls
    level = torch.tensor([0.0, float("nan"), -6.0])
    mixed, union = overlay(windows, targets, level, shift=1)
    # row 0 gets row 1 scaled to row 0's RMS (0 dB): 1 + 1; row 1 untouched (NaN); row 2 gets row 0 at -6 dB of 4
    expected = torch.tensor([2.0, 2.0, 4.0 + 4.0 * 10 ** (-6 / 20)])
    assert torch.allclose(mixed[:, 0], expected)
    assert union.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]


def test_a_silent_row_or_partner_and_a_batch_of_one_stay_as_they_are():
    windows = torch.stack([torch.zeros(8), torch.ones(8)])
    targets = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    mixed, union = overlay(windows, targets, torch.zeros(2), shift=1)
    assert torch.equal(mixed, windows) and torch.equal(union, targets)
    one = overlay(windows[:1], targets[:1], torch.zeros(1), shift=1)
    assert torch.equal(one[0], windows[:1]) and torch.equal(one[1], targets[:1])


def _batches(probability: float) -> TrainBatches:
    clips = [np.sin(np.arange(1500, dtype=np.float32) * (k + 1) / 10) for k in range(4)]
    multi_hot = np.eye(4, dtype=np.float32)
    config = AudioAugmentConfig(overlay_probability=probability, gain_db=0, spec_augment=False)
    return TrainBatches(AudioBank.from_clips(clips), multi_hot, AudioAugment(config, SPEC), seed=5)


def test_training_batches_overlay_about_the_asked_share_reproducibly():
    indices = np.arange(64) % 4
    batch, plain = _batches(0.5)[(2, 3, 0, 1, indices)], _batches(0.0)[(2, 3, 0, 1, indices)]
    overlaid = (batch["x"] != plain["x"]).any(dim=1)
    assert 16 < int(overlaid.sum()) < 48
    assert torch.equal(plain["y"], torch.from_numpy(np.eye(4, dtype=np.float32)[indices]))
    assert torch.equal(batch["y"][~overlaid], plain["y"][~overlaid])
    assert (batch["y"][overlaid] >= plain["y"][overlaid]).all() and batch["y"].sum() > plain["y"].sum()
    again = _batches(0.5)[(2, 3, 0, 1, indices)]
    assert torch.equal(batch["x"], again["x"]) and torch.equal(batch["y"], again["y"])


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["data.audio_augment.overlay_probability=0.5"], "needs train.objective=multilabel"),
        (["train.objective=multilabel", "data.audio_augment.overlay_probability=1.5"], "overlay_probability"),
        (["train.objective=multilabel", "data.audio_augment.overlay_level_db=[0,-6]"], "low first"),
        (["data.audio_augment.noise_snr_db=[30,5]"], "low first"),
    ],
)
def test_overlay_settings_that_cannot_work_are_one_line(overrides, words):
    with pytest.raises(ConfigError, match=words) as error:
        resolve_config({"model": {"name": "ultralight_audio"}}, overrides=overrides)
    assert "\n" not in str(error.value).strip()
