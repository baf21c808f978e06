"""Long recordings are read a window at a time (a seek into the file), not decoded whole: the samples training
sees are the same, and the memory one window costs does not grow with the recording's length."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from nightscan_edge.audio.decode import decode_audio
from nightscan_edge.audio.recording import SeekableRecording
from nightscan_edge.data.batches import AudioBank, train_data
from nightscan_edge.data.cache import MediaCache
from nightscan_edge.data.media import SEEK_READ_MIN_SECONDS, load_cached_media
from nightscan_edge.data.prepare import prepare_data
from nightscan_edge.spec import AudioSpec
from tests.conftest import write_set_with_a_long_clip
from tests.train.conftest import tiny_audio_config

LONG_MINUTES = 20


def write_long_flac(path: Path, minutes: float, rate: int = 16000, block_seconds: int = 60) -> Path:
    """Noise with a slow tone, written a minute at a time (the test itself never holds the whole file)."""
    rng = np.random.default_rng(0)
    with soundfile.SoundFile(path, "w", rate, 1, format="FLAC", subtype="PCM_16") as handle:
        for minute in range(int(minutes * 60 / block_seconds)):
            t = np.arange(block_seconds * rate) / rate + minute * block_seconds
            block = 0.2 * np.sin(2 * np.pi * 700 * t) * (np.sin(2 * np.pi * 0.05 * t) > 0) + 0.02 * rng.standard_normal(
                t.size
            )
            handle.write(block.astype(np.float32))
    return path


def peak_bytes(action: Callable[[], Any]) -> tuple[Any, int]:
    """What ``action`` returns and the peak of memory it allocated meanwhile (numpy arrays included)."""
    tracemalloc.start()
    try:
        result = action()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def long_flac(tmp_path_factory) -> Path:
    return write_long_flac(tmp_path_factory.mktemp("night") / "night.flac", LONG_MINUTES)


@pytest.mark.slow
def test_one_window_of_a_20_minute_file_costs_a_window_not_the_file(long_flac):
    spec = AudioSpec(sample_rate=8000, clip_samples=4096)
    recording, open_peak = peak_bytes(lambda: load_cached_media(long_flac, spec, MediaCache("none")))
    assert isinstance(recording, SeekableRecording)
    assert recording.size == LONG_MINUTES * 60 * 8000
    start = 11 * 60 * 8000 + 12345
    window, window_peak = peak_bytes(lambda: recording[start : start + spec.clip_samples])
    whole, whole_peak = peak_bytes(lambda: decode_audio(long_flac, 8000))
    np.testing.assert_allclose(window, whole[start : start + spec.clip_samples], atol=1e-6)
    decoded_mb = whole.nbytes / 1e6  # 38.4 MB at 8 kHz; a whole decode peaks at several times that
    assert whole_peak > 2 * whole.nbytes
    assert window_peak < 1.5e6, f"one window read peaked at {window_peak / 1e6:.1f} MB (file {decoded_mb:.0f} MB)"
    assert open_peak < 6e6, f"checking the file peaked at {open_peak / 1e6:.1f} MB"


def test_clips_shorter_than_the_threshold_are_decoded_as_before(tmp_path):
    clip = write_long_flac(tmp_path / "clip.flac", 1)
    spec = AudioSpec(sample_rate=8000, clip_samples=4096)
    array = load_cached_media(clip, spec, MediaCache("none"))
    assert SEEK_READ_MIN_SECONDS > 60 and isinstance(array, np.ndarray)
    np.testing.assert_array_equal(array, decode_audio(clip, 8000))


@pytest.mark.parametrize("pad_mode", ["loop", "zero"])
def test_bank_windows_of_a_seekable_recording_equal_those_of_its_decoded_samples(tmp_path, pad_mode):
    path = write_long_flac(tmp_path / "r.flac", 1, rate=44100, block_seconds=20)  # resampled 44.1 -> 22.05 kHz
    other = np.random.default_rng(1).standard_normal(5000).astype(np.float32)
    decoded = decode_audio(path, 22050)
    in_memory = AudioBank.from_clips([other, decoded, other])
    seeking = AudioBank.from_clips([other, SeekableRecording.open(path, 22050), other])
    assert seeking.samples.size == 2 * other.size and list(seeking.lengths) == list(in_memory.lengths)
    window = 4096
    index = np.array([1, 0, 1, 2, 1, 1])
    start = np.array([0, 100, 30000, 7, decoded.size - window, decoded.size - 1000])  # the last one wraps
    roll = np.array([0, 5, 0, 0, 333, 17])
    for shift in (None, roll):
        np.testing.assert_allclose(
            seeking.windows(index, start, shift, window, pad_mode),
            in_memory.windows(index, start, shift, window, pad_mode),
            atol=1e-6,
        )


@pytest.mark.slow
def test_training_batches_read_a_long_recording_by_seeking(long_flac, tmp_path):
    """A 20-minute night among 1 s clips: prepared and batched with memory far below the decoded night."""
    folder, _ = write_set_with_a_long_clip(tmp_path / "set")  # its 90 s night is left out of the manifest
    rows = ["path,label,split"]
    for clip in sorted(folder.glob("*/?*[0-9].wav")):
        rows.append(f"{clip},{clip.parent.name},{'val' if clip.stem.endswith('3') else 'train'}")
    rows.append(f"{long_flac},owl,train")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    config = tiny_audio_config(tmp_path / "manifest.csv", epochs=1)

    def first_batch() -> tuple[Any, Any]:
        prepared = prepare_data(config, cache=MediaCache("none"))
        data = train_data(config, prepared)
        return prepared, next(iter(data.loader))

    (prepared, batch), peak = peak_bytes(first_batch)
    night = prepared.splits["train"].paths.index(long_flac)
    assert isinstance(prepared.splits["train"].arrays[night], SeekableRecording)
    assert [clip.path for clip in prepared.long_clips] == [long_flac]
    assert batch["x"].shape == (8, 4096)  # a batch of the 10 training items, the night among them
    decoded_night = LONG_MINUTES * 60 * prepared.spec.sample_rate * 4
    assert peak < decoded_night / 4, f"prepare + one batch peaked at {peak / 1e6:.1f} MB"
