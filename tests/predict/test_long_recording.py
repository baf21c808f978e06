"""A generated 1-hour recording: streamed, windows cover it end to end, and memory does not grow with length."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile

from nightscan_edge.audio.decode import window_starts
from nightscan_edge.predict import EdgePredictor


def write_long_recording(path: Path, seconds: int, sample_rate: int = 8000, block_seconds: int = 60) -> Path:
    """Streamed write (one block in memory at a time): tone bursts over noise, 16-bit WAV."""
    rng = np.random.default_rng(0)
    t = np.arange(block_seconds * sample_rate) / sample_rate
    tone = (0.3 * np.sin(2 * np.pi * 900 * t) * (np.sin(2 * np.pi * 0.05 * t) > 0)).astype(np.float32)
    with soundfile.SoundFile(str(path), "w", sample_rate, 1, subtype="PCM_16") as handle:
        for _ in range(seconds // block_seconds):
            handle.write(tone + 0.05 * rng.standard_normal(tone.size).astype(np.float32))
    return path


def _peak_traced_mb(predictor: EdgePredictor, path: Path):
    tracemalloc.start()
    try:
        result = predictor.predict_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak / 1e6


@pytest.mark.slow
def test_one_hour_recording_memory_is_flat(tiny_audio_onnx, tmp_path) -> None:
    predictor = EdgePredictor(
        tiny_audio_onnx, hop_seconds=6.0, threads=1
    )  # a sparse hop keeps the test short; decoding is still whole
    short = write_long_recording(tmp_path / "short.wav", 5 * 60)
    hour = write_long_recording(tmp_path / "hour.wav", 60 * 60)
    short_result, short_peak_mb = _peak_traced_mb(predictor, short)
    hour_result, hour_peak_mb = _peak_traced_mb(predictor, hour)
    assert hour_result.error is None
    assert hour_result.detections[0].start_s == 0.0 and hour_result.detections[-1].end_s == pytest.approx(3600.0)
    assert hour_result.windows == len(window_starts(3600 * 8000, 7936, 6 * 8000))  # every 6 s + the tail
    whole_file_mb = 3600 * 8000 * 4 / 1e6  # what decoding the hour at once would take (115 MB)
    assert hour_peak_mb < whole_file_mb / 4, f"peak {hour_peak_mb:.1f} MB for 1 h"
    assert hour_peak_mb < short_peak_mb * 1.5 + 2, f"peak {short_peak_mb:.1f} MB (5 min) vs {hour_peak_mb:.1f} MB (1 h)"
