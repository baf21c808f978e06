"""BirdNET's silence check on a long recording reads it a stretch at a time (the reader is asked for stretches of
at most ``STRETCH_SAMPLES``, never for the whole signal) and stops at the first audible stretch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from nightscan_edge.audio.recording import STRETCH_SAMPLES, SeekableRecording
from nightscan_edge.models.birdnet_extractor import unusable_reason

RATE = 8000
MINUTES = 10  # 4.8 M samples: several stretches


class WatchedRecording(SeekableRecording):
    """A seekable recording that notes every stretch it is asked for and refuses to be decoded whole."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, RATE, soundfile.info(str(path)).frames)
        self.reads: list[int] = []

    def __getitem__(self, key: slice) -> np.ndarray:
        samples = super().__getitem__(key)
        self.reads.append(samples.size)
        return samples

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        raise AssertionError("the silence check decoded the whole recording")


def write_night(path: Path, click_at_second: float | None) -> Path:
    """Digital silence a minute at a time (the test never holds the file), with one click if asked."""
    with soundfile.SoundFile(path, "w", RATE, 1, subtype="PCM_16") as handle:
        for minute in range(MINUTES):
            block = np.zeros(60 * RATE, np.float32)
            if click_at_second is not None and int(click_at_second // 60) == minute:
                block[int(click_at_second % 60 * RATE)] = 0.5
            handle.write(block)
    return path


def test_a_silent_night_is_read_stretch_by_stretch(tmp_path: Path) -> None:
    recording = WatchedRecording(write_night(tmp_path / "night.wav", None))
    assert "silent" in (unusable_reason(recording, RATE) or "")
    assert max(recording.reads) <= STRETCH_SAMPLES
    assert sum(recording.reads) == recording.size == MINUTES * 60 * RATE


@pytest.mark.parametrize(("click_at_second", "stretches_read"), [(30.0, 1), (MINUTES * 60 - 1.0, 5)])
def test_the_check_stops_at_the_first_audible_stretch(
    tmp_path: Path, click_at_second: float, stretches_read: int
) -> None:
    recording = WatchedRecording(write_night(tmp_path / "night.wav", click_at_second))
    assert unusable_reason(recording, RATE) is None
    assert len(recording.reads) == stretches_read
    assert max(recording.reads) <= STRETCH_SAMPLES
