"""The review queue: windows of recordings (or whole photos) waiting for a person's decision, and the decisions.

One SQLite file, ``<data dir>/review/review.sqlite3``, holds every queue (one per data set or source). SQLite and
not an append-only JSONL log, because a decision must be checked and written as one step by several writers at
once -- browser tabs served by the web server, ``review suggest`` queueing from the CLI, a second server process:

- a partial unique index allows one *live* (not undone) decision per window, so two tabs deciding the same window
  cannot both win; the second is told so (``DecisionConflict``, HTTP 409) unless it made the same decision;
- a commit in WAL mode with ``synchronous=FULL`` is on disk when ``decide`` returns, and a writer killed with
  ``kill -9`` mid-transaction leaves the last committed state (a JSONL log would keep a torn last line and need a
  file lock plus a full replay for every conflict check).

Nothing is ever deleted by a decision: an undo marks the decision undone, and the history stays readable.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nightscan_edge.errors import UserError
from nightscan_edge.paths import PathPolicyError, confine, display_path

Action = Literal["accept", "relabel", "reject", "background"]
Source = Literal["prelabel", "predict", "suggest"]
Kind = Literal["audio", "image"]
ACTIONS: tuple[Action, ...] = ("accept", "relabel", "reject", "background")
SOURCES: tuple[Source, ...] = ("prelabel", "predict", "suggest")
KINDS: tuple[Kind, ...] = ("audio", "image")
BACKGROUND_LABEL = "background"  # the class a "background" decision files the window under
DATABASE_NAME = "review.sqlite3"
QUEUE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
TIME_DECIMALS = 3  # a window's times are kept to the millisecond, as prelabel and Raven write them

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, labels TEXT NOT NULL, dataset TEXT, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS windows (
    id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL REFERENCES queues(name), recording TEXT NOT NULL,
    start_s REAL NOT NULL, end_s REAL, label TEXT, confidence REAL, source TEXT NOT NULL, added REAL NOT NULL,
    removed REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_window ON windows(queue, recording, start_s, coalesce(end_s, -1));
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, window_id INTEGER NOT NULL REFERENCES windows(id),
    action TEXT NOT NULL, label TEXT, decided REAL NOT NULL, tab TEXT, undone REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_live_decision ON decisions(window_id) WHERE undone IS NULL;
"""


class ReviewError(UserError):
    """A review request that cannot be carried out as asked; ``http_status`` is the answer the web API gives."""

    http_status = 400


class QueueNotFound(ReviewError):
    http_status = 404


class WindowNotFound(ReviewError):
    """A decision for a window that is not (or no longer) in the queue."""

    http_status = 404


class LabelNotAllowed(ReviewError):
    http_status = 422


class BadWindow(ReviewError):
    """A window that cannot be queued: times out of order, a recording outside the allowed folders."""

    http_status = 422


class DecisionConflict(ReviewError):
    """Another tab (or process) already decided the window differently, or undid the decision first."""

    http_status = 409


@dataclass(frozen=True)
class Window:
    """A stretch ``[start_s, end_s)`` of ``recording`` to review; ``end_s`` None means the whole file (a photo).

    ``label``/``confidence`` are what the model proposed (None when it proposed nothing), ``source`` who queued it.
    """

    recording: Path
    start_s: float
    end_s: float | None
    label: str | None
    confidence: float | None
    source: Source


@dataclass(frozen=True)
class Decision:
    id: int
    window_id: int
    action: Action
    label: str | None  # the class the window is filed under; None for a rejected window
    decided: float  # unix seconds
    tab: str | None  # which browser tab or process decided (shown in a conflict)
    undone: float | None = None


@dataclass(frozen=True)
class QueuedWindow:
    """A window in a queue, with its id and its live decision (None while it waits)."""

    id: int
    queue: str
    window: Window
    decision: Decision | None


@dataclass(frozen=True)
class QueueInfo:
    name: str
    kind: Kind
    labels: tuple[str, ...]  # the data set's classes; "background" is always allowed besides them
    dataset: Path | None  # the data set accepted windows are added to (in a new version; never modified)
    created: float

    @property
    def allowed_labels(self) -> tuple[str, ...]:
        return self.labels if BACKGROUND_LABEL in self.labels else (*self.labels, BACKGROUND_LABEL)


@dataclass(frozen=True)
class QueueCounts:
    windows: int
    pending: int
    by_action: dict[str, int]

    @property
    def decided(self) -> int:
        return self.windows - self.pending


@dataclass(frozen=True)
class AddReport:
    added: int
    already_queued: int


def _time(value: float) -> float:
    return round(float(value), TIME_DECIMALS)


def check_window(window: Window, roots: Sequence[Path]) -> Window:
    """The window with its recording resolved inside ``roots`` and its times checked (``BadWindow`` otherwise)."""
    if window.source not in SOURCES:
        raise BadWindow(f"source {window.source!r} is not one of {', '.join(SOURCES)}")
    try:
        recording = confine(str(window.recording), roots, "recording", must_exist=True)
    except PathPolicyError as error:
        raise BadWindow(str(error)) from None
    start_s = _time(window.start_s)
    end_s = None if window.end_s is None else _time(window.end_s)
    if (
        not math.isfinite(start_s)
        or start_s < 0
        or (end_s is not None and not (math.isfinite(end_s) and end_s > start_s))
    ):
        raise BadWindow(
            f"{display_path(recording)}: window {window.start_s:g}-{window.end_s} s is not a stretch of time "
            "(start >= 0 and before end); fix the times"
        )
    confidence = window.confidence
    if confidence is not None and not (math.isfinite(confidence) and 0.0 <= confidence <= 1.0):
        raise BadWindow(f"{display_path(recording)}: confidence {confidence} is not between 0 and 1")
    label = (window.label or "").strip() or None
    return Window(recording, start_s, end_s, label, confidence, window.source)


def _decision(row: sqlite3.Row) -> Decision:
    return Decision(row["d_id"], row["id"], row["action"], row["d_label"], row["decided"], row["tab"], row["undone"])


def _queued(row: sqlite3.Row) -> QueuedWindow:
    window = Window(
        Path(row["recording"]), row["start_s"], row["end_s"], row["label"], row["confidence"], row["source"]
    )
    return QueuedWindow(row["id"], row["queue"], window, _decision(row) if row["d_id"] is not None else None)


_WINDOW_ROWS = """
SELECT w.*, d.id AS d_id, d.action, d.label AS d_label, d.decided, d.tab, d.undone
FROM windows w LEFT JOIN decisions d ON d.window_id = w.id AND d.undone IS NULL
"""


class ReviewStore:
    """Every review queue of one data dir. Each call opens its own connection: safe from threads and processes."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / "review" / DATABASE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
            connection.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA synchronous=FULL")  # a returned decision is on disk, power cut included
        connection.execute("PRAGMA foreign_keys=ON")
        try:
            yield connection
        finally:
            connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: the check and the write of a decision happen under one write lock."""
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    # queues
    def create_queue(
        self, name: str, labels: Iterable[str], kind: Kind = "audio", dataset: Path | None = None
    ) -> QueueInfo:
        """A new queue, or the existing one of that name when it has the same labels, kind and data set."""
        if not QUEUE_NAME.match(name):
            raise ReviewError(
                f"queue name {name!r}: use 1-64 lower-case letters, digits, '-', '_' or '.', starting with a letter "
                "or digit"
            )
        if kind not in KINDS:
            raise ReviewError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
        wanted = tuple(dict.fromkeys(label.strip() for label in labels if label.strip()))
        if not wanted:
            raise ReviewError(f"queue {name}: give the data set's labels (at least one)")
        dataset_text = None if dataset is None else str(Path(dataset).resolve())
        with self._transaction() as connection:
            row = connection.execute("SELECT * FROM queues WHERE name = ?", (name,)).fetchone()
            if row is None:
                connection.execute(
                    "INSERT INTO queues (name, kind, labels, dataset, created) VALUES (?, ?, ?, ?, ?)",
                    (name, kind, json.dumps(wanted), dataset_text, time.time()),
                )
        existing = self.queue(name)
        if (existing.labels, existing.kind, existing.dataset) != (
            wanted,
            kind,
            None if dataset_text is None else Path(dataset_text),
        ):
            raise ReviewError(
                f"queue {name} already exists with other labels, kind or data set "
                f"({', '.join(existing.labels)}; {existing.kind}; {existing.dataset}); choose another name"
            )
        return existing

    def queue(self, name: str) -> QueueInfo:
        with self._connect() as connection:
            row = connection.execute("SELECT * FROM queues WHERE name = ?", (name,)).fetchone()
        if row is None:
            known = ", ".join(q.name for q in self.queues()) or "none yet"
            raise QueueNotFound(f"no review queue {name!r} (queues: {known})")
        return QueueInfo(
            row["name"],
            row["kind"],
            tuple(json.loads(row["labels"])),
            None if row["dataset"] is None else Path(row["dataset"]),
            row["created"],
        )

    def queues(self) -> list[QueueInfo]:
        with self._connect() as connection:
            names = [row["name"] for row in connection.execute("SELECT name FROM queues ORDER BY created")]
        return [self.queue(name) for name in names]

    # windows
    def add_windows(self, name: str, windows: Iterable[Window], roots: Sequence[Path]) -> AddReport:
        """Queue windows whose recordings lie inside ``roots``; a window already queued is counted, not doubled.

        Every window is checked before the first is written: a bad one refuses the whole batch (``BadWindow``).
        """
        self.queue(name)
        checked = [check_window(window, roots) for window in windows]
        added = 0
        now = time.time()
        with self._transaction() as connection:
            for window in checked:
                cursor = connection.execute(
                    "INSERT OR IGNORE INTO windows (queue, recording, start_s, end_s, label, confidence, source, added)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        str(window.recording),
                        window.start_s,
                        window.end_s,
                        window.label,
                        window.confidence,
                        window.source,
                        now,
                    ),
                )
                added += cursor.rowcount
        return AddReport(added, len(checked) - added)

    def remove_window(self, name: str, window_id: int) -> None:
        """Take a window out of the queue (its decisions stay in the history); later decisions for it get a 404."""
        self.window(name, window_id)
        with self._transaction() as connection:
            connection.execute("UPDATE windows SET removed = ? WHERE id = ?", (time.time(), window_id))

    def windows(
        self, name: str, pending_only: bool = False, offset: int = 0, limit: int | None = None
    ) -> list[QueuedWindow]:
        """The queue in the order windows were added (``review suggest`` adds the least sure first)."""
        self.queue(name)
        where = "WHERE w.queue = ? AND w.removed IS NULL" + (" AND d.id IS NULL" if pending_only else "")
        with self._connect() as connection:
            rows = connection.execute(
                f"{_WINDOW_ROWS} {where} ORDER BY w.id LIMIT ? OFFSET ?",
                (name, -1 if limit is None else limit, offset),
            ).fetchall()
        return [_queued(row) for row in rows]

    def window(self, name: str, window_id: int) -> QueuedWindow:
        with self._connect() as connection:
            row = connection.execute(
                f"{_WINDOW_ROWS} WHERE w.id = ? AND w.queue = ? AND w.removed IS NULL", (window_id, name)
            ).fetchone()
        if row is None:
            raise WindowNotFound(
                f"window {window_id} is not in review queue {name} (removed, or never queued); reload the queue"
            )
        return _queued(row)

    def counts(self, name: str) -> QueueCounts:
        self.queue(name)
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT coalesce(d.action, 'pending') AS state, count(*) AS n FROM windows w LEFT JOIN decisions d"
                " ON d.window_id = w.id AND d.undone IS NULL WHERE w.queue = ? AND w.removed IS NULL GROUP BY state",
                (name,),
            ).fetchall()
        states = {row["state"]: row["n"] for row in rows}
        pending = states.pop("pending", 0)
        return QueueCounts(pending + sum(states.values()), pending, states)

    # decisions
    def _label_for(self, queue: QueueInfo, proposed: str | None, action: Action, label: str | None) -> str | None:
        if action == "reject":
            if label is not None:
                raise ReviewError("a rejected window takes no label; send relabel to file it under another class")
            return None
        if action == "background":
            if label not in (None, BACKGROUND_LABEL):
                raise ReviewError(f"a background window is filed under {BACKGROUND_LABEL!r}; send no label")
            return BACKGROUND_LABEL
        if action == "accept":
            if label is not None and label != proposed:
                raise ReviewError(
                    f"accept keeps the proposed label {proposed!r}; send relabel to change it to {label!r}"
                )
            label = proposed
            if label is None:
                raise ReviewError("this window has no proposed label to accept; relabel it instead")
        elif label is None:
            raise ReviewError("relabel needs a label")
        if label not in queue.allowed_labels:
            raise LabelNotAllowed(
                f"label {label!r} is not in the data set of queue {queue.name} "
                f"({', '.join(queue.allowed_labels)}); relabel the window with one of them"
            )
        return label

    def decide(
        self, name: str, window_id: int, action: str, label: str | None = None, tab: str | None = None
    ) -> Decision:
        """Record a decision; the same decision sent twice (a retried request) returns the first one.

        ``DecisionConflict`` when the window already has a different live decision (undo it first);
        ``WindowNotFound``, ``LabelNotAllowed`` for a window or a label the queue does not have.
        """
        if action not in ACTIONS:
            raise ReviewError(f"action {action!r} is not one of {', '.join(ACTIONS)}")
        queue = self.queue(name)
        queued = self.window(name, window_id)
        final_label = self._label_for(queue, queued.window.label, action, label)
        with self._transaction() as connection:
            live = connection.execute(f"{_WINDOW_ROWS} WHERE w.id = ? AND w.removed IS NULL", (window_id,)).fetchone()
            if live is None:
                raise WindowNotFound(f"window {window_id} left review queue {name} just now; reload the queue")
            if live["d_id"] is not None:
                earlier = _decision(live)
                if (earlier.action, earlier.label) == (action, final_label):
                    return earlier
                by = f" in tab {earlier.tab}" if earlier.tab and earlier.tab != tab else ""
                raise DecisionConflict(
                    f"window {window_id} was already decided{by}: {earlier.action}"
                    f"{'' if earlier.label is None else ' as ' + repr(earlier.label)} "
                    f"at {time.strftime('%H:%M:%S', time.localtime(earlier.decided))}; undo that decision first"
                )
            cursor = connection.execute(
                "INSERT INTO decisions (window_id, action, label, decided, tab) VALUES (?, ?, ?, ?, ?)",
                (window_id, action, final_label, time.time(), tab),
            )
            decision_id = cursor.lastrowid
        assert decision_id is not None  # an INSERT always sets it
        return self.decision(decision_id)

    def decision(self, decision_id: int) -> Decision:
        with self._connect() as connection:
            row = connection.execute(
                "SELECT id AS d_id, window_id AS id, action, label AS d_label, decided, tab, undone FROM decisions"
                " WHERE id = ?",
                (decision_id,),
            ).fetchone()
        if row is None:
            raise WindowNotFound(f"no decision {decision_id}")
        return _decision(row)

    def undo(self, name: str, decision_id: int | None = None, tab: str | None = None) -> Decision:
        """Undo ``decision_id`` (or, without one, the queue's latest live decision; with ``tab``, that tab's latest).

        The window waits again. ``DecisionConflict`` when that decision was already undone or replaced.
        """
        self.queue(name)
        with self._transaction() as connection:
            if decision_id is None:
                row = connection.execute(
                    "SELECT d.id FROM decisions d JOIN windows w ON w.id = d.window_id WHERE w.queue = ?"
                    " AND d.undone IS NULL AND w.removed IS NULL AND (? IS NULL OR d.tab = ?)"
                    " ORDER BY d.id DESC LIMIT 1",
                    (name, tab, tab),
                ).fetchone()
                if row is None:
                    raise DecisionConflict(f"nothing to undo in review queue {name}")
                decision_id = int(row["id"])
            row = connection.execute(
                "SELECT d.undone, w.queue FROM decisions d JOIN windows w ON w.id = d.window_id WHERE d.id = ?",
                (decision_id,),
            ).fetchone()
            if row is None or row["queue"] != name:
                raise WindowNotFound(f"no decision {decision_id} in review queue {name}")
            if row["undone"] is not None:
                raise DecisionConflict(f"decision {decision_id} was already undone (in another tab?); reload the queue")
            connection.execute("UPDATE decisions SET undone = ? WHERE id = ?", (time.time(), decision_id))
        return self.decision(decision_id)

    def history(self, name: str) -> list[Decision]:
        """Every decision of the queue, undone ones included, oldest first."""
        self.queue(name)
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT d.id AS d_id, d.window_id AS id, d.action, d.label AS d_label, d.decided, d.tab, d.undone"
                " FROM decisions d JOIN windows w ON w.id = d.window_id WHERE w.queue = ? ORDER BY d.id",
                (name,),
            ).fetchall()
        return [_decision(row) for row in rows]

    def filed(self, name: str) -> list[QueuedWindow]:
        """Windows whose live decision files them under a class (accept, relabel, background), in queue order."""
        return [q for q in self.windows(name) if q.decision is not None and q.decision.label is not None]
