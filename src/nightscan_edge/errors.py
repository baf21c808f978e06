"""The project's error roots: one place the CLI, the web API and workers catch.

``NightScanError`` is the root of every error this package raises on purpose. ``UserError`` is the branch
worded for the user (what was wrong, what to do): the CLI prints it as one line ``error: ...`` and exits 2,
the web API answers it with a 4xx and its message. Anything that is not a ``NightScanError`` is a bug and
keeps its traceback. ``UserError`` also derives from ``ValueError`` so that callers written against the
older ``ValueError`` subclasses keep working.
"""

from __future__ import annotations

import signal


class NightScanError(Exception):
    """Root of every error NightScan Edge raises on purpose."""


class UserError(NightScanError, ValueError):
    """An error worded for the user (what was wrong, what to do); printed without a traceback."""


class RunLockedError(UserError):
    """A second writer tried to open a run folder that another live process is writing."""


class DataError(UserError):
    """A data set problem worded for the person who owns the data: what is wrong and what to do."""


class CheckpointError(UserError):
    """A file or folder that is not a NightScan Edge run/checkpoint."""


class TrainingCancelled(NightScanError):
    """Raised at a batch boundary after SIGINT/SIGTERM; the run folder keeps last.ckpt for ``--resume``.

    Not a ``UserError``: nothing was wrong. The CLI exits with 128 + the signal number (130, 143).
    """

    def __init__(self, signal_number: int) -> None:
        super().__init__(f"cancelled by {signal.Signals(signal_number).name}")
        self.signal_number = signal_number
