"""Batch augmentation with explicit parameters, (seed, epoch, step)-seeded batches, the batch layout of a split,
windows and the decode cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nightscan_edge.audio.decode import fit_to_length
from nightscan_edge.config import AudioAugmentConfig, PhotoAugmentConfig
from nightscan_edge.data.augment import AudioAugment, bands, mix_at_snr, spec_augment
from nightscan_edge.data.batches import AudioBank, EpochBatches, TrainBatches, photo_bank
from nightscan_edge.data.cache import MediaCache
from nightscan_edge.data.datasets import EpochSeededSampler, clip_windows, collate_windows
from nightscan_edge.data.errors import DataError
from nightscan_edge.data.media import MediaError, media_variant, read_audio
from nightscan_edge.data.photo_augment import PhotoAugment, normalise
from nightscan_edge.spec import AudioSpec, ImageSpec
from tests.conftest import write_tone

SPEC = AudioSpec(clip_samples=1000, n_fft=256, hop_length=128, n_mels=16)
CLIPS = [np.arange(n, dtype=np.float32) + 1 for n in (2600, 1000, 300, 7)]


@pytest.mark.parametrize("pad_mode", ["loop", "zeros"])
def test_bank_gathers_the_window_fit_to_length_and_roll_would_give(pad_mode):
    bank = AudioBank.from_clips(CLIPS)
    index = np.array([0, 1, 2, 3, 0])
    start = np.array([1599, 0, 0, 0, 17])
    roll = np.array([0, 0, 250, 999, 0])
    got = bank.windows(index, start, roll, 1000, pad_mode)
    for row, (i, s, r) in enumerate(zip(index, start, roll, strict=True)):
        expected = np.roll(fit_to_length(CLIPS[i][s : s + 1000], 1000, pad_mode), r)
        np.testing.assert_array_equal(got[row], expected)


def test_memmap_bank_equals_the_memory_bank_and_is_reused(tmp_path):
    file = tmp_path / "banks" / "split.f32"
    on_disk = AudioBank.from_clips(CLIPS, file)
    assert isinstance(on_disk.samples, np.memmap) and file.stat().st_size == 4 * sum(c.size for c in CLIPS)
    np.testing.assert_array_equal(on_disk.samples, AudioBank.from_clips(CLIPS).samples)
    modified = file.stat().st_mtime_ns
    AudioBank.from_clips(CLIPS, file)
    assert file.stat().st_mtime_ns == modified and not list(file.parent.glob("*.tmp"))


def test_cache_folder_read_only_or_full_is_one_line_before_training(tmp_path, monkeypatch):
    import shutil

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not __import__("os").access(locked, __import__("os").W_OK):
            with pytest.raises(DataError, match="read-only; set data.cache_dir"):
                MediaCache("disk", locked)
    finally:
        locked.chmod(0o700)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage._replace(free=1024))
    with pytest.raises(DataError, match=r"is full \(0 MB free"):
        MediaCache("disk", tmp_path / "full")
    with pytest.raises(DataError, match="is full"):
        AudioBank.from_clips(CLIPS, tmp_path / "full" / "bank.f32")
    assert not (tmp_path / "full" / "bank.f32").exists()


def test_gain_and_noise_apply_known_parameters_exactly():
    augment = AudioAugment(AudioAugmentConfig(), SPEC)
    windows = torch.arange(16, dtype=torch.float32).reshape(2, 8)
    out = augment.apply(windows, {"gain": torch.tensor([0.5, 2.0])})
    assert torch.equal(out, windows * torch.tensor([[0.5], [2.0]]))


def test_noise_is_mixed_at_each_rows_snr():
    signal = torch.sin(torch.linspace(0, 200, 4000)).repeat(3, 1)
    noise = torch.randn(3, 4000, generator=torch.Generator().manual_seed(0))
    mixed = mix_at_snr(signal, noise, torch.tensor([10.0, float("nan"), 0.0]))
    added = mixed - signal
    snr = 10 * torch.log10(signal.pow(2).mean(1) / added.pow(2).mean(1).clamp(min=1e-30))
    assert snr[0].item() == pytest.approx(10.0, abs=0.01) and snr[2].item() == pytest.approx(0.0, abs=0.01)
    assert torch.equal(mixed[1], signal[1])  # NaN SNR: this row draws no noise


def test_spec_augment_masks_exact_bands_with_the_mean():
    spectrogram = torch.arange(2 * 1 * 6 * 5, dtype=torch.float32).reshape(2, 1, 6, 5)
    freq = torch.tensor([[[1, 2]], [[0, 0]]])
    time = torch.tensor([[[0, 0]], [[4, 1]]])
    out = spec_augment(spectrogram, freq, time)
    assert torch.all(out[0, 0, 1:3] == spectrogram[0].mean())
    assert torch.equal(out[0, 0, 3:], spectrogram[0, 0, 3:])
    assert torch.all(out[1, 0, :, 4] == spectrogram[1].mean()) and torch.equal(
        out[1, 0, :, :4], spectrogram[1, 0, :, :4]
    )
    drawn = bands(torch.rand(64, 2, 2, generator=torch.Generator().manual_seed(0)), 12, 6)
    assert bool(((drawn[..., 0] >= 0) & (drawn[..., 0] + drawn[..., 1] <= 6) & (drawn[..., 1] <= 6)).all())


def _audio_batches(config=None, seed=3):
    augment = AudioAugment(config or AudioAugmentConfig(noise_mix_probability=0.5), SPEC)
    return TrainBatches(AudioBank.from_clips(CLIPS), np.array([0, 1, 0, 1]), augment, seed)


def _same(a: torch.Tensor | int, b: torch.Tensor | int) -> bool:
    if not torch.is_tensor(a):  # the batch's scalars (noise seed, rows) stay Python ints
        return type(a) is type(b) is int and a == b
    return torch.equal(torch.nan_to_num(a.double(), nan=-1.0), torch.nan_to_num(b.double(), nan=-1.0))


def test_the_same_seed_epoch_and_step_give_the_same_batch():
    dataset, indices = _audio_batches(), np.array([0, 2, 3, 1, 0, 2])
    first, again = dataset[(4, 7, 0, 1, indices)], _audio_batches()[(4, 7, 0, 1, indices)]
    assert first.keys() == again.keys() and all(_same(first[k], again[k]) for k in first)
    other_step = dataset[(4, 8, 0, 1, indices)]
    assert not torch.equal(first["gain"], other_step["gain"])
    assert not torch.equal(first["gain"], _audio_batches(seed=4)[(4, 7, 0, 1, indices)]["gain"])
    off = TrainBatches(dataset.data, dataset.labels, AudioAugment(AudioAugmentConfig(), SPEC, enabled=False), 3)
    assert set(off[(4, 7, 0, 1, indices)]) == {"x", "y"}  # augmentation off: the random window only


def test_ranks_share_one_global_batch_row_for_row():
    dataset, indices = _audio_batches(), np.array([0, 2, 3, 1, 0])
    whole = dataset[(1, 2, 0, 1, indices)]
    shares = [dataset[(1, 2, rank, 2, indices)] for rank in (0, 1)]
    for key in ("x", "y", "gain", "noise_snr_db", "freq_masks"):
        assert _same(torch.cat([s[key] for s in shares]), whole[key]), key
    assert [len(s["y"]) for s in shares] == [2, 3] or [len(s["y"]) for s in shares] == [3, 2]


def test_epoch_batches_follow_the_epoch_and_drop_a_last_batch_of_one():
    batches = EpochBatches(EpochSeededSampler([0, 1] * 5 + [0], seed=1), batch_size=5)
    assert len(batches) == 2  # 11 draws: 5 + 5, the lone 11th dropped (BatchNorm cannot train on one)
    batches.set_epoch(3)
    first = [b[4].tolist() for b in batches]
    batches.set_epoch(4)
    assert [b[4].tolist() for b in batches] != first
    batches.set_epoch(3)
    assert [b[4].tolist() for b in batches] == first and [b[:2] for b in batches] == [(3, 0), (3, 1)]


def test_sampler_is_a_function_of_the_epoch():
    sampler = EpochSeededSampler([0, 1, 0, 1, 0, 1], seed=1)
    sampler.set_epoch(3)
    first = sampler.indices().tolist()
    assert [i for i, _ in sampler] == first  # the per-clip path draws the same order, with item seeds
    sampler.set_epoch(4)
    assert sampler.indices().tolist() != first
    sampler.set_epoch(3)
    assert sampler.indices().tolist() == first
    weighted = EpochSeededSampler([0] * 90 + [1] * 10, seed=0, weighted=True)
    assert 30 < int((weighted.indices() >= 90).sum()) < 70  # rare class drawn about half the time


def test_sampler_passes_several_times_over_a_small_set_to_reach_the_draws():
    sampler = EpochSeededSampler([0, 1, 2, 0, 1], seed=2, draws=12)
    drawn = sampler.indices().tolist()
    assert len(sampler) == len(drawn) == 12
    assert sorted(drawn[:5]) == sorted(drawn[5:10]) == [0, 1, 2, 3, 4]  # whole passes, each its own order
    assert len({seed for _, seed in sampler}) == 12  # per-clip path: every draw its own seed
    assert len(EpochSeededSampler([0, 1, 2], seed=0, draws=2)) == 3  # never fewer than one pass
    assert len(EpochSeededSampler([0, 1] * 10, seed=0, weighted=True, draws=64)) == 64


def test_windows_cover_long_clips_and_pad_short_ones():
    long_clip = np.arange(2600, dtype=np.float32)
    windows = clip_windows(long_clip, SPEC)
    assert windows.shape == (5, 1000)  # starts 0, 500, 1000, 1500 + one aligned to the end (1600)
    assert windows[-1, -1] == 2599
    short = clip_windows(np.ones(300, dtype=np.float32), SPEC)
    assert short.shape == (1, 1000) and np.all(short == 1)  # loop padding
    batch = collate_windows([(torch.from_numpy(windows), 1), (torch.from_numpy(short), 0)])
    assert batch[0].shape == (6, 1000) and batch[2].tolist() == [0, 0, 0, 0, 0, 1]


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


PHOTO = ImageSpec(image_size=32)
STILL = {"crop_scale": 1.0, "horizontal_flip_probability": 0.0, "rotation_degrees": 0.0}


def _photos(count=8, seed=0):
    rng = np.random.default_rng(seed)
    return photo_bank([rng.integers(0, 255, size=(3, 32, 32), dtype=np.uint8) for _ in range(count)])


def _augmented(config, images, seed=7):
    augment = PhotoAugment(config, PHOTO)
    params = {k: torch.as_tensor(v) for k, v in augment.draw(np.random.default_rng(seed), len(images)).items()}
    return augment.apply(images, params)


def test_photo_augmentation_crops_flips_and_keeps_the_size():
    images = _photos()
    plain = normalise(images, PHOTO)
    assert torch.allclose(_augmented(PhotoAugmentConfig(**STILL), images), plain, atol=1e-5)  # identity when off
    cropped = _augmented(PhotoAugmentConfig(**{**STILL, "crop_scale": 0.5}), images)
    assert cropped.shape == plain.shape and torch.equal(
        cropped, _augmented(PhotoAugmentConfig(**{**STILL, "crop_scale": 0.5}), images)
    )
    assert not torch.allclose(cropped, plain)
    flipped = _augmented(PhotoAugmentConfig(**{**STILL, "horizontal_flip_probability": 1.0}), images)
    assert torch.allclose(flipped, plain.flip(-1), atol=1e-5)


def test_trivial_augment_and_erasing_are_seeded_and_switchable():
    images = _photos()
    plain = normalise(images, PHOTO)
    erased = _augmented(PhotoAugmentConfig(**STILL, erasing_probability=1.0), images)
    changed = (erased != plain).any(dim=1).float().mean(dim=(1, 2))
    assert bool(((changed > 0) & (changed < 0.5)).all())  # one patch per photo, the rest untouched
    trivial = PhotoAugmentConfig(**STILL, trivial_augment=True)
    many = _photos(64)
    first = _augmented(trivial, many, seed=1)
    assert torch.equal(first, _augmented(trivial, many, seed=1))  # the same draw seed gives the same batch
    moved = (~torch.isclose(first, normalise(many, PHOTO), atol=1e-4)).flatten(1).any(1)
    assert moved.float().mean() > 0.6  # most photos changed (identity is 1 op of 14; some ops are mild)


def test_the_broadcast_affine_grid_matches_torch():
    """``photo_augment.affine_grid`` replaces ``F.affine_grid`` (10x slower on a CPU) and must give its values."""
    from torch.nn import functional as F

    from nightscan_edge.data.photo_augment import affine_grid

    theta = torch.randn(5, 2, 3, generator=torch.Generator().manual_seed(0))
    for height, width in ((32, 32), (17, 40)):
        expected = F.affine_grid(theta, [5, 3, height, width], align_corners=False)
        assert torch.allclose(affine_grid(theta, height, width), expected, atol=1e-6)
