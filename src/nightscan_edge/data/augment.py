"""Audio augmentation that draws its randomness once (``make_params``) and then applies it (``apply``).

The split follows torchvision transforms v2: the parameters are plain values, so a test can apply a known
shift/gain/mask without randomness, and a seeded generator makes every epoch reproducible (which is what
lets ``--resume`` give the same result as an uninterrupted run).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nightscan_edge.audio.decode import AUDIO_SUFFIXES, decode_audio
from nightscan_edge.config import AudioAugmentConfig
from nightscan_edge.data.errors import DataError


@dataclass(frozen=True)
class WaveformParams:
    start: int  # window offset inside a clip longer than the window
    roll: int  # circular shift of a window (time shift for short, padded clips)
    gain: float  # linear factor
    noise_snr_db: float | None  # None = no noise mixed
    noise_index: int  # which background recording (when a noise folder is given)
    noise_offset: int
    noise_seed: int  # seeds generated noise when there is no noise folder


class WaveformAugment:
    """Random window + time shift + gain + background noise at a random SNR."""

    def __init__(
        self, config: AudioAugmentConfig, backgrounds: list[np.ndarray] | None = None, enabled: bool = True
    ) -> None:
        self.config = config
        self.backgrounds = [b for b in backgrounds or [] if b.size]
        self.enabled = enabled

    def make_params(self, rng: np.random.Generator, clip_length: int, window: int) -> WaveformParams:
        start = int(rng.integers(0, clip_length - window + 1)) if clip_length > window else 0
        if not self.enabled:
            return WaveformParams(start, 0, 1.0, None, 0, 0, 0)
        config = self.config
        roll = int(rng.integers(0, window)) if config.time_shift and clip_length < window else 0
        gain = float(10 ** (rng.uniform(-config.gain_db, config.gain_db) / 20)) if config.gain_db > 0 else 1.0
        snr = None
        if config.noise_mix_probability > 0 and rng.random() < config.noise_mix_probability:
            snr = float(rng.uniform(*config.noise_snr_db))
        noise_index = int(rng.integers(0, len(self.backgrounds))) if self.backgrounds else 0
        noise_offset = int(rng.integers(0, 2**31 - 1))
        return WaveformParams(start, roll, gain, snr, noise_index, noise_offset, int(rng.integers(0, 2**31 - 1)))

    def _noise(self, params: WaveformParams, length: int) -> np.ndarray:
        if self.backgrounds:
            background = self.backgrounds[params.noise_index]
            if background.size < length:
                background = np.tile(background, -(-length // background.size))
            offset = params.noise_offset % (background.size - length + 1)
            return background[offset : offset + length]
        # Pink-ish noise (1/f power) sounds like wind and distant traffic more than white noise does.
        rng = np.random.default_rng(params.noise_seed)
        spectrum = np.fft.rfft(rng.standard_normal(length))
        spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
        return np.fft.irfft(spectrum, n=length).astype(np.float32)

    def apply(self, window: np.ndarray, params: WaveformParams) -> np.ndarray:
        out = np.roll(window, params.roll) if params.roll else window
        if params.noise_snr_db is not None:
            noise = self._noise(params, out.size)
            signal_power = float(np.mean(out.astype(np.float64) ** 2))
            noise_power = float(np.mean(noise.astype(np.float64) ** 2))
            if signal_power > 0 and noise_power > 0:
                scale = np.sqrt(signal_power / (noise_power * 10 ** (params.noise_snr_db / 10)))
                out = out + scale * noise
        if params.gain != 1.0:
            out = out * params.gain
        return out.astype(np.float32, copy=False)


def load_backgrounds(noise_dir: str | None, sample_rate: int) -> list[np.ndarray]:
    """Background recordings for noise mixing (decoded once); an empty or missing folder is an error."""
    if noise_dir is None:
        return []

    folder = Path(noise_dir)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES) if folder.is_dir() else []
    if not files:
        raise DataError(
            f"data.audio_augment.noise_dir={noise_dir}: no audio files there; give a folder of background "
            "recordings or unset it to mix generated noise"
        )
    return [decode_audio(p, sample_rate) for p in files]


@dataclass(frozen=True)
class SpecMaskParams:
    """Per item: lists of (start, width) for frequency and time masks."""

    freq: list[list[tuple[int, int]]]
    time: list[list[tuple[int, int]]]


class SpecAugment:
    """SpecAugment (Park et al. 2019) frequency and time masks, filled with each spectrogram's mean."""

    def __init__(self, config: AudioAugmentConfig) -> None:
        self.config = config

    def make_params(self, rng: np.random.Generator, batch: int, n_mels: int, frames: int) -> SpecMaskParams:
        def masks(count: int, max_width: int, size: int) -> list[tuple[int, int]]:
            out = []
            for _ in range(count):
                width = int(rng.integers(0, min(max_width, size) + 1))
                out.append((int(rng.integers(0, size - width + 1)), width))
            return out

        config = self.config
        return SpecMaskParams(
            [masks(config.freq_masks, config.freq_mask_width, n_mels) for _ in range(batch)],
            [masks(config.time_masks, config.time_mask_width, frames) for _ in range(batch)],
        )

    @staticmethod
    def apply(spectrogram: torch.Tensor, params: SpecMaskParams) -> torch.Tensor:
        """``(B, 1, n_mels, frames)`` -> masked copy."""
        mask = torch.zeros(spectrogram.shape, dtype=torch.bool, device=spectrogram.device)
        for item, (freq, time) in enumerate(zip(params.freq, params.time, strict=False)):
            for start, width in freq:
                mask[item, :, start : start + width, :] = True
            for start, width in time:
                mask[item, :, :, start : start + width] = True
        fill = spectrogram.mean(dim=(1, 2, 3), keepdim=True).expand_as(spectrogram)
        return torch.where(mask, fill, spectrogram)
