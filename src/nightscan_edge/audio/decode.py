"""Decode audio files to mono float32 at a target sample rate (soundfile + soxr).

Field recordings arrive as WAV, FLAC, OGG or MP3 at any rate and channel count; everything is downmixed by
mean and resampled with soxr's HQ filter so that training and inference see the same signal.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile
import soxr

from nightscan_edge.errors import UserError
from nightscan_edge.paths import display_path

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".oga", ".aif", ".aiff")


def audio_files_under(folder: Path) -> list[Path]:
    """Every audio file below ``folder`` (recursively, by suffix), sorted so runs see them in the same order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


# Containers whose libsndfile seek is sample-exact, so a recording can be decoded from the middle
# (``iter_audio_blocks(start_sample=...)``) with the same samples as a decode from the start.
SEEKABLE_FORMATS = ("WAV", "WAVEX", "W64", "RF64", "FLAC", "AIFF")
# Resampling from the middle starts soxr's filter this much earlier and drops its output, so the kept
# samples equal a decode from the start (the HQ filter's support is a few ms).
RESAMPLE_PREROLL_SECONDS = 0.5


class AudioDecodeError(UserError):
    """A file that is not decodable audio (corrupt, empty, truncated or another media type)."""


def _to_mono(block: np.ndarray) -> np.ndarray:
    """Channel mean; a mono block is just its column (no reduction pass over the samples)."""
    if block.ndim == 1:
        return block
    return block[:, 0] if block.shape[1] == 1 else block.mean(axis=1)


def _read_block(handle: soundfile.SoundFile, frames: int) -> np.ndarray:
    """Up to ``frames`` frames as float32 ``(frames, channels)``.

    16-bit PCM (most field recorders) is read as int16 and scaled here: the same values as libsndfile's own
    float conversion (x / 32768, bit for bit), in about a quarter of the CPU time -- it was a tenth of
    the cost of predicting a long recording.
    """
    # soundfile is untyped (Any): the arrays are named here.
    if handle.subtype == "PCM_16":
        pcm: np.ndarray = handle.read(frames, dtype="int16", always_2d=True)
        return pcm * np.float32(1 / 32768)
    block: np.ndarray = handle.read(frames, dtype="float32", always_2d=True)
    return block


def _check_finite(samples: np.ndarray, path: Path) -> None:
    """Float WAV/FLAC can hold NaN/Inf samples; they would turn every score into NaN without an error."""
    if not np.isfinite(samples).all():
        raise AudioDecodeError(f"{display_path(path)}: audio holds NaN or infinite samples; re-export the recording")


def decode_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Whole file -> mono float32 at ``sample_rate``. Raises ``AudioDecodeError`` with the reason."""
    path = Path(path)
    try:
        data, source_rate = soundfile.read(os.fsencode(path), dtype="float32", always_2d=True)
    except Exception as error:  # libsndfile reports corrupt/unknown files with several exception types
        raise AudioDecodeError(f"{path}: not decodable audio ({error}); expected WAV, FLAC, OGG or MP3") from error
    if data.shape[0] == 0:
        raise AudioDecodeError(f"{path}: audio file has no samples")
    mono = _to_mono(data)
    _check_finite(mono, path)
    if source_rate != sample_rate:
        mono = soxr.resample(mono, source_rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def span_step(source_rate: int, sample_rate: int) -> int:
    """Output samples per whole number of source frames: a decode may start only at multiples of this."""
    return sample_rate // math.gcd(source_rate, sample_rate)


def iter_audio_blocks(
    path: str | Path,
    sample_rate: int,
    block_seconds: float = 30.0,
    start_sample: int = 0,
    stop_sample: int | None = None,
) -> Iterator[np.ndarray]:
    """Stream a long recording as mono float32 blocks at ``sample_rate``; memory stays flat with length.

    soxr's streaming resampler keeps filter state between blocks, so the concatenated blocks equal a
    one-shot resample up to the filter's edge handling.

    ``start_sample`` / ``stop_sample`` (output samples) decode only a span, so one long recording can be
    scored by several workers. The span starts at a source frame (``start_sample`` must be a multiple of
    ``span_step``, or seeking would shift the resampler's phase) and, when resampling, the filter is run over
    a short pre-roll first so its edge handling falls outside the span.
    """
    path = Path(path)
    try:
        info = soundfile.info(os.fsencode(path))
    except Exception as error:
        raise AudioDecodeError(f"{path}: not decodable audio ({error}); expected WAV, FLAC, OGG or MP3") from error
    if info.frames == 0:
        raise AudioDecodeError(f"{path}: audio file has no samples")
    frames_per_block = max(1, int(block_seconds * info.samplerate))
    resampler = None
    if info.samplerate != sample_rate:
        resampler = soxr.ResampleStream(info.samplerate, sample_rate, 1, dtype="float32", quality="HQ")
    skip, source_start = 0, 0
    if start_sample:
        step = span_step(info.samplerate, sample_rate)
        if start_sample % step or info.format not in SEEKABLE_FORMATS:
            raise ValueError(
                f"{path.name}: cannot start decoding at sample {start_sample} "
                f"(needs a multiple of {step} in a {'/'.join(SEEKABLE_FORMATS)} file)"
            )
        if resampler is not None:
            skip = min(start_sample, -(-int(RESAMPLE_PREROLL_SECONDS * sample_rate) // step) * step)
        source_start = (start_sample - skip) * info.samplerate // sample_rate
    remaining = None if stop_sample is None else stop_sample - start_sample
    try:
        with soundfile.SoundFile(os.fsencode(path)) as handle:
            if source_start:
                handle.seek(source_start)
            while remaining is None or remaining > 0:
                block = _read_block(handle, frames_per_block)
                last = block.shape[0] < frames_per_block
                mono = _to_mono(block).astype(np.float32, copy=False)
                _check_finite(mono, path)
                if resampler is not None:
                    mono = resampler.resample_chunk(mono, last=last)
                if skip:
                    dropped = min(skip, mono.size)
                    mono, skip = mono[dropped:], skip - dropped
                if remaining is not None:
                    mono = mono[:remaining]
                    remaining -= mono.size
                if mono.size:
                    yield mono
                if last:
                    break
    except AudioDecodeError:
        raise
    except Exception as error:
        raise AudioDecodeError(f"{path}: decoding failed part-way ({error}); the file may be truncated") from error


def read_span(path: str | Path, sample_rate: int, start_sample: int, length: int) -> np.ndarray:
    """``length`` output samples from ``start_sample`` (mono float32 at ``sample_rate``), reading only that
    stretch of the file plus the resampler's pre-roll: one training window of a night-long recording costs a
    window, not the night. Needs a ``SEEKABLE_FORMATS`` file; the samples equal ``decode_audio``'s at the same
    positions (exactly at the file's own rate, up to the resampler's filter edges otherwise).
    """
    path = Path(path)
    try:
        source_rate = soundfile.info(os.fsencode(path)).samplerate
    except Exception as error:
        raise AudioDecodeError(f"{path}: not decodable audio ({error}); expected WAV, FLAC, OGG or MP3") from error
    aligned = start_sample - start_sample % span_step(source_rate, sample_rate)
    # one block holds the span and its pre-roll, so a short window is one seek and one read
    block_seconds = (start_sample - aligned + length) / sample_rate + RESAMPLE_PREROLL_SECONDS + 0.05
    blocks = list(iter_audio_blocks(path, sample_rate, block_seconds, aligned, start_sample + length))
    samples = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    return samples[start_sample - aligned :]


def fit_to_length(samples: np.ndarray, length: int, pad_mode: str = "loop") -> np.ndarray:
    """Pad a clip shorter than ``length`` (loop-repeat it, or append zeros); longer clips are cut."""
    if samples.shape[-1] >= length:
        return samples[..., :length]
    if pad_mode == "loop" and samples.shape[-1] > 0:
        repeats = -(-length // samples.shape[-1])
        return np.tile(samples, repeats)[..., :length]
    out = np.zeros(length, dtype=np.float32)
    out[: samples.shape[-1]] = samples
    return out


def window_starts(total_samples: int, window: int, hop: int) -> list[int]:
    """Start offsets of windows covering a clip: at least one; the last window ends at the clip's end."""
    if total_samples <= window:
        return [0]
    starts = list(range(0, total_samples - window + 1, hop))
    if starts[-1] + window < total_samples:
        starts.append(total_samples - window)
    return starts


def resample_windows(windows: np.ndarray, from_rate: int, to_rate: int, length: int) -> np.ndarray:
    """``(N, samples)`` windows at ``from_rate`` -> ``(N, length)`` at ``to_rate`` (soxr HQ), zero-filled or cut at
    the end: the same seconds of audio for a model with another window (a 48 kHz 3 s teacher or server model
    scoring a 22.05 kHz 2.95 s edge window)."""
    windows = np.atleast_2d(np.asarray(windows, dtype=np.float32))
    out = np.zeros((windows.shape[0], length), dtype=np.float32)
    for row, window in enumerate(windows):
        resampled = window if from_rate == to_rate else soxr.resample(window, from_rate, to_rate, quality="HQ")
        kept = min(resampled.size, length)
        out[row, :kept] = resampled[:kept]
    return out
