"""When and where a recording was made, from its file name and place in the archive.

Rule (also written to the output's ``archive.json`` and docs/archive.md):

1. AudioMoth names ``YYYYMMDD_HHMMSS.WAV`` and Song Meter names ``PREFIX_YYYYMMDD_HHMMSS.wav`` (anything after
   the time, e.g. ``_0+1``, is ignored) give the start time as the recorder wrote it (AudioMoth: UTC by
   default; Song Meter: the recorder's local time). No time zone is applied.
2. Otherwise the start is the file's modification time (UTC) minus its duration: recorders close the file
   when the recording ends. The per-file rows say which rule gave their time (``time_source``).

Site: the first folder under the archive root (``ARCHIVE/SITE/...``); a file directly in the root takes its
Song Meter prefix, or ``unsorted``. Night: the date of the evening, so recordings before noon count for the
night that began the day before; hour of night runs from 12:00 to 11:00.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

TIME_RULE = (
    "recording start from the file name: AudioMoth YYYYMMDD_HHMMSS or Song Meter PREFIX_YYYYMMDD_HHMMSS "
    "(as the recorder wrote it, no time zone applied); otherwise file mtime (UTC) minus the duration"
)
SITE_RULE = "site = first folder under the archive; files at its top level: Song Meter prefix, else 'unsorted'"
NIGHT_RULE = "night = the evening's date (times before 12:00 belong to the previous date's night)"
UNSORTED_SITE = "unsorted"
NIGHT_STARTS_HOUR = 12

_NAME_TIME = re.compile(r"^(?:(?P<prefix>.+?)_)?(?P<date>\d{8})_(?P<time>\d{6})(?:$|[^0-9])")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class RecordingTime:
    start: datetime  # naive: the recorder's clock (name) or UTC (mtime)
    source: str  # "audiomoth_name", "songmeter_name" or "mtime"
    prefix: str | None = None


def safe_name(text: str) -> str:
    """A folder-safe partition value (Hive partitions must not hold '/', '=' or spaces)."""
    return _UNSAFE.sub("_", text).strip("_") or UNSORTED_SITE


def time_from_name(stem: str) -> RecordingTime | None:
    match = _NAME_TIME.match(stem)
    if match is None:
        return None
    try:
        start = datetime.strptime(match["date"] + match["time"], "%Y%m%d%H%M%S")
    except ValueError:  # 8 + 6 digits that are not a date (e.g. a counter)
        return None
    prefix = match["prefix"]
    return RecordingTime(start, "songmeter_name" if prefix else "audiomoth_name", prefix)


def recording_time(path: Path, mtime_s: float | None, duration_s: float | None) -> RecordingTime:
    """The recording's start by the rule above; ``mtime_s`` None (file gone) gives the Unix epoch."""
    from_name = time_from_name(path.stem)
    if from_name is not None:
        return from_name
    end = datetime.fromtimestamp(mtime_s or 0.0, tz=UTC).replace(tzinfo=None)
    return RecordingTime(end - timedelta(seconds=duration_s or 0.0), "mtime")


def site_of(path: Path, root: Path) -> str:
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = (path.name,)
    if len(parts) > 1:
        return safe_name(parts[0])
    found = time_from_name(path.stem)
    return safe_name(found.prefix) if found is not None and found.prefix else UNSORTED_SITE


def night_of(moment: datetime) -> date:
    return (moment - timedelta(hours=NIGHT_STARTS_HOUR)).date()


def hour_of_night_order() -> list[int]:
    """Clock hours in the order a night runs: 12, 13, ..., 23, 0, ..., 11."""
    return [(NIGHT_STARTS_HOUR + i) % 24 for i in range(24)]
