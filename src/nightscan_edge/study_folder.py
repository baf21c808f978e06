"""``StudyFolder``: every file name of a tune study's folder, and the one reader of its Pareto table.

The tuner (``nightscan_edge.tune``) writes these files, the web UI's Search page reads them; both name them
through this class, on the ground floor, so the page never needs the tune extra (Optuna) to show a study.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class StudyFolder:
    TABLE_JSON = "pareto.json"  # every trial: state, figures, front; "winner": the winning trial's number
    TABLE_MARKDOWN = "pareto.md"
    PLOT = "pareto.png"
    WINNER = "winner.json"  # the winning trial's row: run folder, export folder, figures
    CONFIRM = "confirm.json"  # the best trials re-trained on more seeds (tune --confirm)
    DATABASE = "study.db"  # the default Optuna storage (SQLite)
    RUNS = "runs"  # each trial's run folder

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def table_json(self) -> Path:
        return self.path / self.TABLE_JSON

    @property
    def table_markdown(self) -> Path:
        return self.path / self.TABLE_MARKDOWN

    @property
    def plot(self) -> Path:
        return self.path / self.PLOT

    @property
    def winner_file(self) -> Path:
        return self.path / self.WINNER

    @property
    def confirm_file(self) -> Path:
        return self.path / self.CONFIRM

    @property
    def database(self) -> Path:
        return self.path / self.DATABASE

    @property
    def runs_dir(self) -> Path:
        return self.path / self.RUNS

    def holds_study(self) -> bool:
        return self.table_json.is_file()

    def read_table(self) -> dict[str, Any] | None:
        """The Pareto table as written after the last finished trial; None before the first one."""
        try:
            table: dict[str, Any] = json.loads(self.table_json.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return table
