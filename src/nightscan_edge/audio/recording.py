"""A long recording read by seeking, shaped like the decoded array it stands for.

Training draws one window per clip per step, so a night-long recording dropped into a class folder needs a
window at a time, not its hours decoded into memory (3 h of 48 kHz stereo decoded whole peaked at 3.95 GB).
``SeekableRecording`` answers ``size``/``shape``/``len`` like the mono float32 array ``decode_audio`` would
return, a slice reads only that stretch (``read_span``), and ``numpy.asarray`` decodes it whole for the few
users that need every sample (validation scores every window of a clip).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from nightscan_edge.audio.decode import (
    SEEKABLE_FORMATS,
    AudioDecodeError,
    decode_audio,
    iter_audio_blocks,
    read_span,
)


class SeekableRecording:
    """A recording at ``sample_rate`` of ``size`` mono samples, read a stretch at a time."""

    dtype = np.dtype(np.float32)
    ndim = 1

    def __init__(self, path: Path, sample_rate: int, size: int) -> None:
        self.path, self.sample_rate, self.size = Path(path), sample_rate, size

    @classmethod
    def open(cls, path: Path, sample_rate: int) -> SeekableRecording:
        """Stream the whole file once (one block in memory at a time) to find every decoding problem now, as a
        whole decode would, and to count its samples at ``sample_rate`` exactly."""
        size = sum(block.size for block in iter_audio_blocks(path, sample_rate))
        return cls(path, sample_rate, size)

    @property
    def shape(self) -> tuple[int]:
        return (self.size,)

    @property
    def nbytes(self) -> int:
        """What it holds in memory: nothing but its name (a cache's budget must not count the decoded size)."""
        return 0

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError(f"{self.path.name}: a seekable recording is read by contiguous slices only")
        start, stop, _ = key.indices(self.size)
        if stop <= start:
            return np.zeros(0, dtype=np.float32)
        return read_span(self.path, self.sample_rate, start, stop - start)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        samples = decode_audio(self.path, self.sample_rate)
        return samples if dtype is None else samples.astype(dtype)

    def __repr__(self) -> str:
        return f"SeekableRecording({str(self.path)!r}, {self.sample_rate} Hz, {self.size} samples)"


def seekable_seconds(path: Path) -> float | None:
    """Duration from the header alone, when libsndfile seeks this file sample-exactly (WAV, FLAC, AIFF); ``None``
    for the others (MP3, Ogg), which must be decoded from the start."""
    try:
        info = soundfile.info(os.fsencode(path))
    except Exception as error:  # libsndfile reports unreadable files with several exception types
        raise AudioDecodeError(f"{path}: not decodable audio ({error}); expected WAV, FLAC, OGG or MP3") from error
    if info.format not in SEEKABLE_FORMATS or not info.samplerate:
        return None
    return float(info.frames / info.samplerate)


# What a decoded audio clip is: the samples, or (for a long recording) the means to read them.
AudioClip = np.ndarray | SeekableRecording

# A stretch a whole-clip check reads at once: about 22 s at 48 kHz, 4 MB of float32, whatever the clip's length.
STRETCH_SAMPLES = 1 << 20


def iter_stretches(clip: AudioClip, samples: int = STRETCH_SAMPLES) -> Iterator[np.ndarray]:
    """The clip ``samples`` at a time, in order: a ``SeekableRecording`` reads only each stretch from its file (a
    check over a night-long recording never holds the night), an array yields views (no copy)."""
    if samples < 1:
        raise ValueError(f"a stretch needs at least one sample; got {samples}")
    for start in range(0, clip.size, samples):
        yield clip[start : start + samples]
