"""SQLite state of the web server: registered datasets, training runs and export/bench jobs.

The run folders stay the source of truth for what a worker did (status.json, events.jsonl); the database
records what the server asked for and when, so the history survives restarts.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nightscan_edge.errors import UserError
from nightscan_edge.paths import display_path, is_displayable

ACTIVE_STATUSES = ("queued", "running")
FINAL_STATUSES = ("done", "failed", "cancelled", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL UNIQUE, source TEXT NOT NULL,
    summary TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, model TEXT NOT NULL, dataset_id TEXT, data_path TEXT NOT NULL,
    overrides TEXT NOT NULL, status TEXT NOT NULL, pid INTEGER, run_dir TEXT NOT NULL,
    resume INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, started REAL, finished REAL, error TEXT
);
CREATE TABLE IF NOT EXISTS exports (
    id TEXT PRIMARY KEY, run_id TEXT NOT NULL, kind TEXT NOT NULL, options TEXT NOT NULL,
    status TEXT NOT NULL, pid INTEGER, out_dir TEXT NOT NULL, log_path TEXT NOT NULL,
    created REAL NOT NULL, started REAL, finished REAL, error TEXT
);
"""
_JSON_COLUMNS = ("summary", "overrides", "options")


class StoreError(UserError):
    """A record the store refuses to save (it could not be shown back)."""


def _showable(value: Any) -> Any:
    """Strings with lone surrogates (undecodable file-name bytes) escaped: a row that cannot be encoded as UTF-8
    JSON would turn every later listing into a 500, so none is ever returned (older databases included)."""
    if isinstance(value, str):
        return value if is_displayable(value) else display_path(value)
    if isinstance(value, dict):
        return {_showable(k): _showable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_showable(v) for v in value]
    return value


def _row(row: sqlite3.Row) -> dict[str, Any]:
    record: dict[str, Any] = dict(row)
    for column in _JSON_COLUMNS:
        if column in record:
            record[column] = json.loads(record[column])
    return {key: _showable(value) for key, value in record.items()}  # column names are ASCII: only values need it


def _inserted(record: dict[str, Any] | None, what: str) -> dict[str, Any]:
    """The row just inserted, read back (inside one process nothing deletes it in between)."""
    if record is None:
        raise StoreError(f"the {what} just saved could not be read back from the database; try again")
    return record


class Store:
    """Small typed facade over one SQLite file; each call opens its own connection (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=30)
        connection.row_factory = sqlite3.Row
        try:
            with connection:
                yield connection
        finally:
            connection.close()

    def _one(self, sql: str, *params: object) -> dict[str, Any] | None:
        with self._connect() as connection:
            row: sqlite3.Row | None = connection.execute(sql, params).fetchone()
        return None if row is None else _row(row)

    def _all(self, sql: str, *params: object) -> list[dict[str, Any]]:
        with self._connect() as connection:
            return [_row(row) for row in connection.execute(sql, params).fetchall()]

    def _update(self, table: str, record_id: str, **values: Any) -> None:
        if not values:
            return
        columns = ", ".join(f"{name} = ?" for name in values)
        encoded = [json.dumps(v) if k in _JSON_COLUMNS else v for k, v in values.items()]
        with self._connect() as connection:
            connection.execute(f"UPDATE {table} SET {columns} WHERE id = ?", (*encoded, record_id))

    # datasets
    def add_dataset(
        self, dataset_id: str, name: str, path: str, source: str, summary: dict[str, Any]
    ) -> dict[str, Any]:
        for what, text in (("name", name), ("path", path), ("summary", json.dumps(summary, ensure_ascii=False))):
            if not is_displayable(text):
                raise StoreError(
                    f"the dataset {what} {display_path(text)[:120]} is not valid UTF-8 (a file or folder "
                    "name from another encoding); rename it and register again"
                )
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO datasets (id, name, path, source, summary, created) VALUES (?, ?, ?, ?, ?, ?)",
                (dataset_id, name, path, source, json.dumps(summary), time.time()),
            )
        return _inserted(self.dataset(dataset_id), "dataset")

    def dataset(self, dataset_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM datasets WHERE id = ?", dataset_id)

    def dataset_by_path(self, path: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM datasets WHERE path = ?", path)

    def delete_dataset(self, dataset_id: str) -> None:
        with self._connect() as connection:
            connection.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))

    def datasets(self) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM datasets ORDER BY created DESC")

    def rename_dataset(self, dataset_id: str, name: str) -> dict[str, Any] | None:
        self._update("datasets", dataset_id, name=name)
        return self.dataset(dataset_id)

    # runs
    def add_run(
        self, run_id: str, model: str, dataset_id: str | None, data_path: str, overrides: list[str], run_dir: str
    ) -> dict[str, Any]:
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO runs (id, model, dataset_id, data_path, overrides, status, run_dir, created) "
                "VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
                (run_id, model, dataset_id, data_path, json.dumps(overrides), run_dir, time.time()),
            )
        return _inserted(self.run(run_id), "run")

    def adopt_run(
        self, run_id: str, model: str, data_path: str, run_dir: str, status: str, created: float, finished: float
    ) -> dict[str, Any]:
        """Record a run trained outside the server (the CLI) so the history shows it; it has no dataset id."""
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO runs (id, model, dataset_id, data_path, overrides, status, run_dir, created, finished) "
                "VALUES (?, ?, NULL, ?, '[]', ?, ?, ?, ?)",
                (run_id, model, data_path, status, run_dir, created, finished),
            )
        return _inserted(self.run(run_id), "run")

    def run_by_dir(self, run_dir: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM runs WHERE run_dir = ?", run_dir)

    def run(self, run_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM runs WHERE id = ?", run_id)

    def runs(self, statuses: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        if statuses:
            marks = ", ".join("?" for _ in statuses)
            return self._all(f"SELECT * FROM runs WHERE status IN ({marks}) ORDER BY created", *statuses)
        return self._all("SELECT * FROM runs ORDER BY created DESC")

    def update_run(self, run_id: str, **values: Any) -> None:
        self._update("runs", run_id, **values)

    # export / bench jobs
    def add_export(
        self, export_id: str, run_id: str, kind: str, options: dict[str, Any], out_dir: str, log_path: str
    ) -> dict[str, Any]:
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO exports (id, run_id, kind, options, status, out_dir, log_path, created) "
                "VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)",
                (export_id, run_id, kind, json.dumps(options), out_dir, log_path, time.time()),
            )
        return _inserted(self.export(export_id), "job")

    def export(self, export_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM exports WHERE id = ?", export_id)

    def exports(self, run_id: str | None = None, statuses: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM exports WHERE 1 = 1"
        params: list[str] = []
        if run_id is not None:
            sql, params = sql + " AND run_id = ?", [*params, run_id]
        if statuses:
            sql += f" AND status IN ({', '.join('?' for _ in statuses)})"
            params.extend(statuses)
        return self._all(sql + " ORDER BY created", *params)

    def update_export(self, export_id: str, **values: Any) -> None:
        self._update("exports", export_id, **values)
