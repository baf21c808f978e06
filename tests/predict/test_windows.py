"""Window/hop/padding rules and merging (the contract the JS client mirrors)."""

from __future__ import annotations

import numpy as np
import pytest

from nightscan_edge.audio.decode import window_starts
from nightscan_edge.predict.windows import ScoredWindow, hop_samples, merge_windows, sliding_windows

LABELS = ["owl", "fox", "bat"]


def _blocks(signal: np.ndarray, block: int):
    for i in range(0, len(signal), block):
        yield signal[i : i + block]


@pytest.mark.parametrize("total", [1, 99, 100, 101, 150, 250, 251, 1000, 1234])
@pytest.mark.parametrize("block", [1, 7, 64, 5000])
def test_streamed_windows_match_window_starts_and_samples(total: int, block: int) -> None:
    signal = np.arange(total, dtype=np.float32)
    windows = list(sliding_windows(_blocks(signal, block), clip_samples=100, hop=50))
    if total <= 100:
        assert [w.start_sample for w in windows] == [0]
        assert windows[0].end_sample == total
    else:
        assert [w.start_sample for w in windows] == window_starts(total, 100, 50)
        for window in windows:
            np.testing.assert_array_equal(window.samples, signal[window.start_sample : window.start_sample + 100])
            assert window.end_sample == window.start_sample + 100
    assert windows[-1].end_sample == total
    assert all(w.samples.shape == (100,) for w in windows)


def test_short_recording_is_padded_per_pad_mode() -> None:
    clip = np.array([1, 2, 3], dtype=np.float32)
    (looped,) = sliding_windows([clip], clip_samples=7, hop=3, pad_mode="loop")
    (zeros,) = sliding_windows([clip], clip_samples=7, hop=3, pad_mode="zero")
    np.testing.assert_array_equal(looped.samples, [1, 2, 3, 1, 2, 3, 1])
    np.testing.assert_array_equal(zeros.samples, [1, 2, 3, 0, 0, 0, 0])
    assert looped.end_sample == 3


def test_empty_stream_gives_no_windows() -> None:
    assert list(sliding_windows([], clip_samples=10, hop=5)) == []


def test_hop_defaults_to_half_a_window_and_rejects_zero() -> None:
    assert hop_samples(8000, 8000, None) == 4000
    assert hop_samples(8000, 8000, 0.25) == 2000
    with pytest.raises(ValueError, match="hop-seconds"):
        hop_samples(8000, 8000, 0.00001)


def _window(start: float, label: int, p: float, source: str = "edge") -> ScoredWindow:
    probabilities = np.full(3, (1 - p) / 2, dtype=np.float32)
    probabilities[label] = p
    return ScoredWindow(start, start + 1.0, probabilities, source)


def test_consecutive_windows_of_one_label_and_source_merge() -> None:
    windows = [
        _window(0.0, 0, 0.6),
        _window(0.5, 0, 0.9),
        _window(1.0, 1, 0.7),
        _window(1.5, 1, 0.8, "server"),
        _window(2.0, 0, 0.95),
    ]
    detections = merge_windows(windows, LABELS, top_k=2)
    assert [(d.label, d.start_s, d.end_s, d.source) for d in detections] == [
        ("owl", 0.0, 1.5, "edge"),
        ("fox", 1.0, 2.0, "edge"),
        ("fox", 1.5, 2.5, "server"),
        ("owl", 2.0, 3.0, "edge"),
    ]
    assert detections[0].confidence == pytest.approx(0.9)
    assert detections[0].top_k[0] == ("owl", pytest.approx(0.9))
    assert len(detections[0].top_k) == 2
