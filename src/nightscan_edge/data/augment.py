"""Training augmentation a batch at a time: draw the parameters once (``draw``), then apply them (``apply``).

The split follows torchvision transforms v2 (``make_params`` / ``transform``), at the scale of a batch:
``draw`` runs on the CPU in the data loader with a generator seeded from (run seed, epoch, step) and returns
plain arrays, one row per item -- so a test can apply known values, ``--resume`` replays an epoch exactly, and
under DDP every rank draws the same global batch and keeps its own rows. ``apply`` runs on the training device
(the GPU when there is one) as a handful of tensor operations over the whole batch: no Python per item.

Waveform crop, circular shift and the overlay of two windows of the batch (multi-label: the target becomes the
union of both labels, so it has to happen where the labels are gathered) are done where the window is gathered
(``nightscan_edge.data.batches``); gain, background-noise mixing at an SNR and the SpecAugment masks are here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nightscan_edge.audio.decode import audio_files_under, decode_audio
from nightscan_edge.config import AudioAugmentConfig
from nightscan_edge.data.errors import DataError
from nightscan_edge.spec import AudioSpec

BatchParams = dict[str, np.ndarray]  # one row per item (leading axis = batch), except keys in SCALAR_KEYS
SCALAR_KEYS = frozenset({"noise_seed", "noise_rows", "overlay_shift"})  # the same for every row: 0-d arrays


def draw_uniform_int(rng: np.random.Generator, high: np.ndarray) -> np.ndarray:
    """One integer in ``[0, high)`` per row (``high`` >= 1), vectorised."""
    draws: np.ndarray = np.minimum((rng.random(high.shape) * high).astype(np.int64), high - 1)
    return draws


class AudioAugment:
    """Random window + time shift (in the gather), gain, noise at a random SNR and SpecAugment, per batch."""

    def __init__(self, config: AudioAugmentConfig, spec: AudioSpec, enabled: bool = True, backgrounds: int = 0) -> None:
        self.config = config
        self.spec = spec
        self.enabled = enabled
        self.backgrounds = backgrounds  # how many background recordings there are (0: generated noise)

    def draw(self, rng: np.random.Generator, lengths: np.ndarray) -> BatchParams:
        """Parameters for a batch of clips of these lengths (samples)."""
        batch, window, config = len(lengths), self.spec.clip_samples, self.config
        params: BatchParams = {"start": draw_uniform_int(rng, np.maximum(lengths - window, 0) + 1)}
        if not self.enabled:
            return params
        shift = config.time_shift & (lengths < window)
        params["roll"] = np.where(shift, draw_uniform_int(rng, np.full(batch, window)), 0)
        params["gain"] = (10 ** (rng.uniform(-config.gain_db, config.gain_db, batch) / 20)).astype(np.float32)
        if config.noise_mix_probability > 0:
            mix = rng.random(batch) < config.noise_mix_probability
            snr = rng.uniform(*config.noise_snr_db, batch)
            params["noise_snr_db"] = np.where(mix, snr, np.nan).astype(np.float32)
            params["noise_index"] = draw_uniform_int(rng, np.full(batch, max(self.backgrounds, 1)))
            params["noise_offset"] = rng.integers(0, 2**31 - 1, batch)
            params["noise_seed"] = np.asarray(rng.integers(0, 2**31 - 1), dtype=np.int64)
        if config.spec_augment:
            # Fractions, turned into bands on the device once the spectrogram's size is known.
            params["freq_masks"] = rng.random((batch, config.freq_masks, 2)).astype(np.float32)
            params["time_masks"] = rng.random((batch, config.time_masks, 2)).astype(np.float32)
        if config.overlay_probability > 0:  # drawn last: runs without it keep their exact streams
            overlaid = rng.random(batch) < config.overlay_probability
            level = rng.uniform(*config.overlay_level_db, batch)
            params["overlay_db"] = np.where(overlaid, level, np.nan).astype(np.float32)
            params["overlay_shift"] = np.asarray(rng.integers(1, max(batch, 2)), dtype=np.int64)
        return params

    # -- on the training device ---------------------------------------------------------------------------
    def apply(
        self, windows: torch.Tensor, params: dict[str, torch.Tensor], noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(B, samples)`` gathered windows -> noise mixed at each row's SNR (NaN: none), then gain.

        Noise is made and scaled for the whole batch even when no row mixes (a NaN row adds exactly zero): asking
        the device whether any row mixes would make every step wait for it."""
        out = windows
        snr = params.get("noise_snr_db")
        if snr is not None:
            if noise is None:
                noise = pink_noise(
                    int(params["noise_rows"]), windows.shape[1], int(params["noise_seed"]), windows.device
                )[params["row"]]
            out = mix_at_snr(out, noise, snr)
        if "gain" in params:
            out = out * params["gain"][:, None]
        return out

    def mask_spectrogram(self, spectrogram: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """SpecAugment on ``(B, 1, n_mels, frames)``; no masks drawn (disabled) -> unchanged."""
        if "freq_masks" not in params:
            return spectrogram
        config = self.config
        _, _, n_mels, frames = spectrogram.shape
        return spec_augment(
            spectrogram,
            bands(params["freq_masks"], config.freq_mask_width, n_mels),
            bands(params["time_masks"], config.time_mask_width, frames),
        )


def overlay(
    windows: torch.Tensor, targets: torch.Tensor, level_db: torch.Tensor, shift: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row ``i`` with a finite ``level_db`` gets row ``(i + shift) % B`` added at that RMS level against its own, and
    the union of both rows' multi-hot targets: two animals in one window, from recordings that hold one each.

    The partner is a fixed roll of the batch (``shift`` is the same for every row) so that a DDP rank pairs its own
    rows only; silent rows (and batches of one) stay as they are."""
    rows = windows.shape[0]
    if rows < 2:
        return windows, targets
    partner = (torch.arange(rows) + shift) % rows
    own = windows.double().pow(2).mean(dim=1).sqrt()
    other = own[partner]
    usable = torch.isfinite(level_db) & (own > 0) & (other > 0)
    level = 10 ** (torch.nan_to_num(level_db.double(), nan=0.0) / 20)
    scale = torch.where(usable, own / other.clamp(min=1e-30) * level, 0.0)
    mixed = windows + scale.to(windows.dtype)[:, None] * windows[partner]
    union = torch.where(usable[:, None], torch.maximum(targets, targets[partner]), targets)
    return mixed, union


def mix_at_snr(signal: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
    """Add ``noise`` to each row at that row's SNR in dB; rows with a NaN SNR or a silent signal/noise stay."""
    signal_power = signal.double().pow(2).mean(dim=1)
    noise_power = noise.double().pow(2).mean(dim=1)
    usable = torch.isfinite(snr_db) & (signal_power > 0) & (noise_power > 0)
    ratio = 10 ** (torch.nan_to_num(snr_db.double(), nan=0.0) / 10)
    scale = torch.where(usable, torch.sqrt(signal_power / (noise_power.clamp(min=1e-30) * ratio)), 0.0)
    return signal + scale.to(signal.dtype)[:, None] * noise


def pink_noise(rows: int, length: int, seed: int, device: torch.device) -> torch.Tensor:
    """Pink-ish noise (1/f power): sounds like wind and distant traffic more than white noise does.

    Drawn from a generator on ``device`` for the whole global batch (``rows``), so every DDP rank sees the
    same noise for the same item.
    """
    generator = torch.Generator(device=device).manual_seed(seed)
    white = torch.randn(rows, length, generator=generator, device=device)
    spectrum = torch.fft.rfft(white)
    spectrum = spectrum / torch.sqrt(torch.arange(spectrum.shape[1], device=device).clamp(min=1))
    noise: torch.Tensor = torch.fft.irfft(spectrum, n=length).float()
    return noise


def bands(fractions: torch.Tensor, max_width: int, size: int) -> torch.Tensor:
    """``(B, masks, 2)`` uniform fractions -> integer ``(start, width)``: width in [0, min(max_width, size)],
    start in [0, size - width] (each uniform, as in the paper)."""
    widths = torch.clamp((fractions[..., 0] * (min(max_width, size) + 1)).long(), max=min(max_width, size))
    starts = torch.minimum((fractions[..., 1] * (size - widths + 1)).long(), size - widths)
    return torch.stack([starts, widths], dim=-1)


def spec_augment(spectrogram: torch.Tensor, freq: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
    """SpecAugment (Park et al. 2019): frequency and time bands ``(B, masks, 2)`` of ``(start, width)`` filled
    with each spectrogram's mean, for the whole batch at once."""
    _, _, n_mels, frames = spectrogram.shape
    device = spectrogram.device

    def covered(masks: torch.Tensor, size: int) -> torch.Tensor:  # (B, size): inside any band
        position = torch.arange(size, device=device)[None, None, :]
        start, width = masks[..., :1], masks[..., 1:]
        return ((position >= start) & (position < start + width)).any(dim=1)

    mask = covered(freq.to(device), n_mels)[:, None, :, None] | covered(time.to(device), frames)[:, None, None, :]
    fill = spectrogram.mean(dim=(1, 2, 3), keepdim=True)
    return torch.where(mask, fill, spectrogram)


def load_backgrounds(noise_dir: str | None, sample_rate: int) -> list[np.ndarray]:
    """Background recordings for noise mixing (decoded once); an empty or missing folder is an error."""
    if noise_dir is None:
        return []

    folder = Path(noise_dir)
    files = audio_files_under(folder) if folder.is_dir() else []
    if not files:
        raise DataError(
            f"data.audio_augment.noise_dir={noise_dir}: no audio files there; give a folder of background "
            "recordings or unset it to mix generated noise"
        )
    backgrounds = [decode_audio(p, sample_rate) for p in files]
    return [b for b in backgrounds if b.size]


# -- per clip ---------------------------------------------------------------------------------------------------
# The per-item versions, for the per-clip path that frozen embeddings and BirdNET distillation (cached teacher
# scores looked up by clip and window offset) still take; the same distributions as the batch versions above.


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
