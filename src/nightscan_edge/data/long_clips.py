"""Clips far longer than the others of their class: most likely a whole unlabelled recording dropped into a class
folder (a 3-hour night among 3 s calls). It trains as if every minute of it held that class's call, so training says
so in one line: the recording belongs in the review queue, or cut into labelled clips."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from nightscan_edge.paths import display_path

LONG_CLIP_RATIO = 10.0  # this many times the class's median duration ...
LONG_CLIP_MIN_SECONDS = 60.0  # ... and at least this long: a 30 s clip among 2 s calls is still a clip
MIN_CLASS_CLIPS = 3  # a median of fewer says nothing about what the class's clips look like
SHOWN = 5  # clips named in the line; the rest counted


@dataclass(frozen=True)
class LongClip:
    path: Path
    label: str
    seconds: float
    class_median_seconds: float


def far_longer_clips(durations: Iterable[tuple[Path, str, float]]) -> list[LongClip]:
    """(path, label, seconds) of every clip -> those far longer than their class's median, longest first."""
    by_label: dict[str, list[tuple[Path, float]]] = {}
    for path, label, seconds in durations:
        by_label.setdefault(label, []).append((path, seconds))
    found = []
    for label, clips in by_label.items():
        if len(clips) < MIN_CLASS_CLIPS:
            continue
        typical = median(seconds for _, seconds in clips)
        found += [
            LongClip(path, label, seconds, typical)
            for path, seconds in clips
            if seconds >= LONG_CLIP_MIN_SECONDS and seconds >= LONG_CLIP_RATIO * typical
        ]
    return sorted(found, key=lambda clip: -clip.seconds)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def long_clips_message(clips: list[LongClip]) -> str:
    """One line naming them (the longest first) and what to do."""
    named = "; ".join(
        f"{display_path(clip.path)} is {_duration(clip.seconds)} (class '{clip.label}': median "
        f"{_duration(clip.class_median_seconds)})"
        for clip in clips[:SHOWN]
    )
    more = f"; ... {len(clips) - SHOWN} more" if len(clips) > SHOWN else ""
    return (
        f"{len(clips)} clip(s) far longer than the others of their class, likely unlabelled recordings: {named}{more}; "
        "train on labelled clips cut from them, or move them out of the class folder and review them"
    )
