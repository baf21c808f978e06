"""``quiet_stretches``: the no-call stretches of a labelled clip (real site background for the few-shot benchmark)."""

from __future__ import annotations

import numpy as np
import pytest

from nightscan_edge.data.background import quiet_stretches

RATE = 8000


def _clip(seconds: float, calls: list[tuple[float, float]], floor: float = 1e-3, seed: int = 0) -> np.ndarray:
    """Low background noise at ``floor`` with loud 1 kHz calls over the given (start, end) seconds."""
    rng = np.random.default_rng(seed)
    clip = floor * rng.standard_normal(int(seconds * RATE)).astype(np.float32)
    time = np.arange(clip.size) / RATE
    for start, end in calls:
        inside = (time >= start) & (time < end)
        clip[inside] += 0.5 * np.sin(2 * np.pi * 1000 * time[inside]).astype(np.float32)
    return clip


def test_the_stretch_between_two_calls_is_found_clear_of_the_calls_by_the_margin():
    stretches = quiet_stretches(_clip(6.0, [(0.0, 1.0), (4.0, 6.0)]), RATE)
    assert len(stretches) == 1
    start, end = stretches[0]
    assert start == pytest.approx(1.3, abs=0.11) and end == pytest.approx(3.7, abs=0.11)


def test_stretches_shorter_than_the_minimum_are_not_kept():
    clip = _clip(4.0, [(0.0, 1.0), (2.2, 4.0)])  # 1.2 s between the calls, 0.6 s once the margins are taken off
    assert quiet_stretches(clip, RATE) == []
    assert len(quiet_stretches(clip, RATE, min_seconds=0.5)) == 1


def test_a_level_close_to_the_calls_is_not_quiet():
    clip = _clip(6.0, [(0.0, 1.0), (4.0, 6.0)], floor=0.1)  # ~11 dB under the calls: a faint call, not background
    assert quiet_stretches(clip, RATE) == []
    assert len(quiet_stretches(clip, RATE, below_call_db=6.0)) == 1


def test_digital_silence_and_clips_shorter_than_a_frame_give_nothing():
    clip = _clip(6.0, [(0.0, 1.0), (4.0, 6.0)])
    clip[int(1.0 * RATE) : int(4.0 * RATE)] = 0.0  # an edit's zero fill, not the site
    assert quiet_stretches(clip, RATE) == []
    assert quiet_stretches(np.zeros(10, np.float32), RATE) == []
