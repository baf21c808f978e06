"""Peak resident memory of a block of code (loading a model and running it), on Linux.

Linux keeps a per-process high-water mark of resident memory (``VmHWM``) that can be reset by writing
``5`` to ``/proc/self/clear_refs``. Resetting it before the block and reading it after gives the peak
the block reached; minus the resident size before the block, that is what loading + inference added --
the figure an app developer compares with a phone's memory budget. Elsewhere the figure is ``None``
(reported as "not measured"), never a guess.
"""

from __future__ import annotations

import gc
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
BYTES_PER_MB = 1024 * 1024


def _status_kb(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{_STATUS} has no {field} line")


def peak_memory_supported() -> bool:
    if not (_STATUS.is_file() and _CLEAR_REFS.exists()):
        return False
    try:
        _CLEAR_REFS.write_text("5")
        _status_kb("VmHWM")
    except (OSError, RuntimeError):
        return False
    return True


class PeakMemory:
    """``with PeakMemory() as peak: ...`` then ``peak.added_mb``: peak RSS above the RSS at entry."""

    def __init__(self) -> None:
        self.supported = peak_memory_supported()
        self.added_mb: float | None = None
        self._start_kb = 0

    def __enter__(self) -> PeakMemory:
        if self.supported:
            gc.collect()
            _CLEAR_REFS.write_text("5")  # high-water mark := current RSS
            self._start_kb = _status_kb("VmRSS")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.supported:
            self.added_mb = max(0, _status_kb("VmHWM") - self._start_kb) * 1024 / BYTES_PER_MB
