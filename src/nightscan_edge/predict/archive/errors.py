"""The archive engine's error and the one-line hint for its optional dependencies."""

from __future__ import annotations

import importlib

from nightscan_edge.errors import UserError

INSTALL_HINT = 'pip install "nightscan-edge[archive]"'


class ArchiveError(UserError):
    """An archive run that cannot start or go on (missing extra, foreign output folder, no scheduler)."""


def require_archive_extra() -> None:
    """Dask (distributed) and pyarrow come with the ``archive`` extra; say so in one line when they are missing."""
    for module in ("dask", "distributed", "pyarrow", "pyarrow.parquet"):
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ArchiveError(f"--engine dask needs Dask and pyarrow ({module} is missing): {INSTALL_HINT}") from error
