"""What an archive run will do: one ``FilePlan`` per recording, long ones cut into spans of whole windows.

A span is a part of a recording that one worker scores. Spans start at multiples of the window hop, so
their windows are exactly the windows ``predict`` cuts from the whole file (0, hop, 2 * hop, ..., plus the
end-aligned last one, which belongs to the last span), and merging the spans' windows in order gives the
same detections as one process would. When the file is resampled, spans also start on a whole number of
source frames (``span_step``), so the resampler's phase is that of a decode from the start.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import soundfile

from nightscan_edge.audio.decode import SEEKABLE_FORMATS, span_step
from nightscan_edge.predict.archive.recording_time import recording_time, safe_name, site_of
from nightscan_edge.predict.windows import hop_samples
from nightscan_edge.spec import AudioSpec

# A span is never cut so close to the end that the last span would hold less than this beyond one window.
_SPAN_END_MARGIN_SECONDS = 2.0

Span = tuple[int, "int | None"]  # (first output sample, stop sample or None = to the end)


@dataclass(frozen=True)
class FilePlan:
    """One recording of the archive: identity (for resume), time and place, and its spans."""

    path: str  # as found in the archive (absolute or as given)
    relative: str  # below the archive root: the stable key of its results
    size: int  # -1: could not be read when planned
    mtime_ns: int
    duration_s: float | None  # None: the header could not be read (the worker reports why)
    site: str
    start: datetime
    time_source: str
    spans: tuple[Span, ...] = field(default=((0, None),))

    @property
    def date(self) -> str:
        return self.start.date().isoformat()

    @property
    def output_name(self) -> str:
        """Stable per recording: a readable stem plus a hash of its archive path (stems repeat across sites)."""
        digest = hashlib.sha1(self.relative.encode("utf-8", "surrogateescape")).hexdigest()[:12]
        return f"{safe_name(Path(self.relative).stem)[:60]}-{digest}.parquet"

    def span_hours(self, index: int, sample_rate: int) -> float:
        """Audio hours a span covers (progress); the whole file when there is one span."""
        if self.duration_s is None:
            return 0.0
        first, stop = self.spans[index]
        end = self.duration_s * sample_rate if stop is None else stop
        return max(0.0, end - first) / sample_rate / 3600


def plan_spans(
    total_samples: int, spec: AudioSpec, hop_seconds: float | None, span_seconds: float, source_rate: int
) -> tuple[Span, ...]:
    """Cut a recording of ``total_samples`` (at the model's rate) into spans of about ``span_seconds``.

    Span k reads ``[k * R, k * R + R - hop + clip)`` (its windows start at ``k * R + j * hop``, j < R / hop)
    and the last span reads to the end. ``R`` is a multiple of both the hop and ``span_step``.
    """
    clip, rate = spec.clip_samples, spec.sample_rate
    hop = hop_samples(clip, rate, hop_seconds)
    unit = math.lcm(hop, span_step(source_rate, rate))
    span = max(1, round(span_seconds * rate / unit)) * unit
    margin = clip + int(_SPAN_END_MARGIN_SECONDS * rate)
    spans: list[Span] = []
    first = 0
    while first + span - hop + clip + margin <= total_samples:
        spans.append((first, first + span - hop + clip))
        first += span
    spans.append((first, None))
    return tuple(spans)


def plan_file(path: Path, root: Path, spec: AudioSpec, hop_seconds: float | None, span_seconds: float) -> FilePlan:
    """Stat and read the header of one file; anything unreadable is planned as one span for the worker to report."""
    try:
        relative = str(path.relative_to(root))
    except ValueError:
        relative = str(path)
    try:
        stat = os.stat(path)
        size, mtime_ns, mtime_s = stat.st_size, stat.st_mtime_ns, stat.st_mtime
    except OSError:
        size, mtime_ns, mtime_s = -1, 0, None
    duration_s: float | None = None
    spans: tuple[Span, ...] = ((0, None),)
    if size > 0:
        try:
            info = soundfile.info(os.fsencode(path))
        except Exception:  # libsndfile raises several types; the worker's decode gives the user the reason
            info = None
        if info is not None and info.frames > 0:
            duration_s = info.frames / info.samplerate
            if info.format in SEEKABLE_FORMATS:
                total = info.frames * spec.sample_rate // info.samplerate
                spans = plan_spans(total, spec, hop_seconds, span_seconds, info.samplerate)
    when = recording_time(path, mtime_s, duration_s)
    return FilePlan(
        str(path), relative, size, mtime_ns, duration_s, site_of(path, root), when.start, when.source, spans
    )
