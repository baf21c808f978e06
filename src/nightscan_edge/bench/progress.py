"""Progress of a benchmark: a Rich bar on stderr, or nothing (``--quiet``, tests)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class NoProgress:
    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def describe(self, text: str) -> None:
        pass

    def advance(self) -> None:
        pass

    def log(self, message: str) -> None:
        pass


class RichProgress:
    """Rich progress bar on stderr: one step per (file, thread count) plus one for accuracy."""

    def __init__(self, total: int) -> None:

        self.console = Console(stderr=True)
        self.bar = Progress(
            TextColumn("[bold]bench[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.task = self.bar.add_task("", total=total)

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.bar.stop()

    def describe(self, text: str) -> None:
        self.bar.update(self.task, description=text)

    def advance(self) -> None:
        self.bar.advance(self.task)

    def log(self, message: str) -> None:
        self.bar.console.print(message)


BenchProgress = NoProgress | RichProgress
