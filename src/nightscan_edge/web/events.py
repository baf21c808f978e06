"""Tail a run's ``events.jsonl`` from an event index, so viewers can join, reload or reconnect at any time.

Only complete lines are returned: a worker may be half-way through writing one when we read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nightscan_edge.run_folder import RunFolder

EVENTS_FILE = RunFolder.EVENTS


class EventTail:
    """Incremental reader: ``poll()`` returns the events appended since the last call, numbered from 0."""

    def __init__(self, path: Path, start: int = 0):
        self.path = Path(path)
        self.start = max(0, start)
        self.next_seq = 0  # index of the next complete line in the file
        self._offset = 0
        self._size_seen = -1

    def poll(self, max_events: int = 1000) -> list[dict[str, Any]]:
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return []
        if size == self._size_seen:
            return []
        if size < self._offset:  # the file was replaced (not expected): start over
            self._offset, self.next_seq = 0, 0
        events: list[dict[str, Any]] = []
        with open(self.path, "rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read(size - self._offset)
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        complete = chunk[: end + 1]
        consumed = 0
        for raw in complete.splitlines(keepends=True):
            if len(events) >= max_events:
                break
            consumed += len(raw)
            seq = self.next_seq
            self.next_seq += 1
            if seq < self.start or not raw.strip():
                continue
            try:
                event = json.loads(raw)
            except json.JSONDecodeError:
                event = {"type": "log", "level": "warning", "message": f"unreadable event line {seq}"}
            events.append({**event, "seq": seq})
        self._offset += consumed
        self._size_seen = size if consumed == len(complete) and end + 1 == len(chunk) else -1
        return events


def read_all_events(run_dir: Path) -> list[dict[str, Any]]:
    return EventTail(Path(run_dir) / EVENTS_FILE).poll(max_events=10**9)
