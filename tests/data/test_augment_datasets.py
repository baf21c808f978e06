"""Augmentation with explicit parameters, epoch-seeded sampling, windows and the decode cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nightscan_edge.config import AudioAugmentConfig
from nightscan_edge.data.augment import SpecAugment, SpecMaskParams, WaveformAugment, WaveformParams
from nightscan_edge.data.cache import MediaCache
from nightscan_edge.data.datasets import AudioTrainDataset, EpochSeededSampler, clip_windows, collate_windows
from nightscan_edge.data.media import MediaError, media_variant, read_audio
from nightscan_edge.spec import AudioSpec
from tests.conftest import write_tone

SPEC = AudioSpec(clip_samples=1000, n_fft=256, hop_length=128, n_mels=16)


def test_waveform_augment_applies_known_parameters_exactly():
    augment = WaveformAugment(AudioAugmentConfig())
    window = np.arange(8, dtype=np.float32)
    params = WaveformParams(start=0, roll=2, gain=0.5, noise_snr_db=None, noise_index=0, noise_offset=0, noise_seed=0)
    np.testing.assert_allclose(augment.apply(window, params), np.roll(window, 2) * 0.5)


def test_noise_is_mixed_at_the_requested_snr():
    augment = WaveformAugment(AudioAugmentConfig(noise_mix_probability=1.0))
    signal = np.sin(np.linspace(0, 200, 4000)).astype(np.float32)
    params = WaveformParams(0, 0, 1.0, 10.0, 0, 0, noise_seed=7)
    noise = augment.apply(signal, params) - signal
    snr_db = 10 * np.log10(np.mean(signal**2) / np.mean(noise**2))
    assert snr_db == pytest.approx(10.0, abs=0.01)


def test_params_are_reproducible_from_a_seed_and_disabled_means_identity():
    augment = WaveformAugment(AudioAugmentConfig(noise_mix_probability=0.5))
    draw = lambda: augment.make_params(np.random.default_rng(5), 5000, 1000)
    assert draw() == draw()
    off = WaveformAugment(AudioAugmentConfig(), enabled=False).make_params(np.random.default_rng(5), 5000, 1000)
    assert (off.roll, off.gain, off.noise_snr_db) == (0, 1.0, None)


def test_spec_augment_masks_exact_bands_with_the_mean():
    spectrogram = torch.arange(2 * 1 * 6 * 5, dtype=torch.float32).reshape(2, 1, 6, 5)
    params = SpecMaskParams(freq=[[(1, 2)], []], time=[[], [(4, 1)]])
    out = SpecAugment.apply(spectrogram, params)
    assert torch.all(out[0, 0, 1:3] == spectrogram[0].mean())
    assert torch.equal(out[0, 0, 3:], spectrogram[0, 0, 3:])
    assert torch.all(out[1, 0, :, 4] == spectrogram[1].mean())
    drawn = SpecAugment(AudioAugmentConfig()).make_params(np.random.default_rng(0), 2, 6, 5)
    assert all(0 <= start and start + width <= 6 for item in drawn.freq for start, width in item)


def test_sampler_is_a_function_of_the_epoch():
    sampler = EpochSeededSampler([0, 1, 0, 1, 0, 1], seed=1)
    sampler.set_epoch(3)
    first = list(sampler)
    sampler.set_epoch(4)
    assert list(sampler) != first
    sampler.set_epoch(3)
    assert list(sampler) == first
    weighted = EpochSeededSampler([0] * 90 + [1] * 10, seed=0, weighted=True)
    assert 30 < sum(1 for i, _ in weighted if i >= 90) < 70  # rare class drawn about half the time


def test_windows_cover_long_clips_and_pad_short_ones():
    long_clip = np.arange(2600, dtype=np.float32)
    windows = clip_windows(long_clip, SPEC)
    assert windows.shape == (5, 1000)  # starts 0, 500, 1000, 1500 + one aligned to the end (1600)
    assert windows[-1, -1] == 2599
    short = clip_windows(np.ones(300, dtype=np.float32), SPEC)
    assert short.shape == (1, 1000) and np.all(short == 1)  # loop padding
    batch = collate_windows([(torch.from_numpy(windows), 1), (torch.from_numpy(short), 0)])
    assert batch[0].shape == (6, 1000) and batch[2].tolist() == [0, 0, 0, 0, 0, 1]


def test_training_items_are_one_window_from_the_clip():
    clip = np.arange(5000, dtype=np.float32)
    dataset = AudioTrainDataset([clip], [0], SPEC, WaveformAugment(AudioAugmentConfig(), enabled=False))
    window, label = dataset[(0, 123)]
    assert window.shape == (1000,) and label == 0
    assert torch.equal(window, dataset[(0, 123)][0])
    assert torch.all(window[1:] - window[:-1] == 1)  # contiguous slice of the clip


@pytest.mark.parametrize("mode", ["memory", "disk"])
def test_cache_decodes_each_file_once(tmp_path, mode):
    path = write_tone(tmp_path / "tone.wav", 440, 0.5, 16000)
    cache = MediaCache(mode, tmp_path / "cache")
    loader = lambda p: read_audio(p, SPEC)
    first = cache.get_or_load(path, media_variant(SPEC) + mode, loader)
    again = MediaCache(mode, tmp_path / "cache").get_or_load(path, media_variant(SPEC) + mode, loader)
    assert cache.decodes == 1
    np.testing.assert_array_equal(first, again)
    assert first.dtype == np.float32 and first.size == int(0.5 * 22050)


def test_corrupt_audio_is_a_media_error(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....not audio")
    with pytest.raises(MediaError, match="not decodable"):
        read_audio(bad, SPEC)


def test_sampler_passes_several_times_over_a_small_set_to_reach_the_draws():
    sampler = EpochSeededSampler([0, 1, 2, 0, 1], seed=2, draws=12)
    drawn = [index for index, _ in sampler]
    assert len(sampler) == len(drawn) == 12
    assert sorted(drawn[:5]) == sorted(drawn[5:10]) == [0, 1, 2, 3, 4]  # whole passes, each its own order
    assert len({seed for _, seed in sampler}) == 12  # every draw its own window/augmentation seed
    assert len(EpochSeededSampler([0, 1, 2], seed=0, draws=2)) == 3  # never fewer than one pass
    assert len(EpochSeededSampler([0, 1] * 10, seed=0, weighted=True, draws=64)) == 64


def test_photo_augmentation_crops_and_keeps_the_size():
    from nightscan_edge.config import PhotoAugmentConfig
    from nightscan_edge.data.datasets import ImageDataset
    from nightscan_edge.spec import ImageSpec

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, size=(3, 32, 32), dtype=np.uint8)
    spec = ImageSpec(image_size=32)
    plain = ImageDataset([image], [0], spec, None)[0][0]
    cropped = ImageDataset(
        [image], [0], spec, PhotoAugmentConfig(crop_scale=0.5, horizontal_flip_probability=0, rotation_degrees=0)
    )
    first, again = cropped[(0, 7)][0], cropped[(0, 7)][0]
    assert first.shape == plain.shape == (3, 32, 32)
    assert torch.equal(first, again) and not torch.allclose(first, plain)  # seeded per draw, and really cropped
    off = ImageDataset(
        [image], [0], spec, PhotoAugmentConfig(crop_scale=1.0, horizontal_flip_probability=0, rotation_degrees=0)
    )
    assert torch.allclose(off[(0, 7)][0], plain)  # crop_scale=1 switches it off


def test_trivial_augment_and_erasing_are_seeded_and_switchable():
    from nightscan_edge.config import PhotoAugmentConfig
    from nightscan_edge.data.datasets import ImageDataset
    from nightscan_edge.spec import ImageSpec

    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, size=(3, 32, 32), dtype=np.uint8)
    spec = ImageSpec(image_size=32)
    plain = ImageDataset([image], [0], spec, None)[0][0]
    still = dict(crop_scale=1.0, horizontal_flip_probability=0, rotation_degrees=0)
    erased = ImageDataset([image], [0], spec, PhotoAugmentConfig(**still, erasing_probability=1.0))[(0, 3)][0]
    changed = (erased != plain).any(dim=0)
    assert 0 < changed.float().mean() < 0.5  # one patch replaced, the rest untouched
    trivial = ImageDataset([image], [0], spec, PhotoAugmentConfig(**still, trivial_augment=True))
    draws = [trivial[(0, seed)][0] for seed in range(8)]
    assert all(d.shape == plain.shape for d in draws)
    assert torch.equal(draws[0], trivial[(0, 0)][0])  # the same draw seed gives the same photo
    assert sum(not torch.allclose(d, plain) for d in draws) >= 4  # most draws change the photo
