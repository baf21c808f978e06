"""Archive-scale prediction on Dask (``nightscan-edge predict ... --engine dask``): see docs/archive.md.

Needs the ``archive`` extra (Dask distributed + pyarrow); importing this package without it raises
``ArchiveError`` naming the install command.
"""

from nightscan_edge.predict.archive.errors import INSTALL_HINT, ArchiveError, require_archive_extra

require_archive_extra()

from nightscan_edge.predict.archive.engine import ArchiveOptions, ArchiveReport, connect, run_archive  # noqa: E402
from nightscan_edge.predict.archive.plan import FilePlan, plan_file, plan_spans  # noqa: E402
from nightscan_edge.predict.archive.store import OutputFolder, manifest_hash  # noqa: E402
from nightscan_edge.predict.archive.summary import write_summaries  # noqa: E402

__all__ = [
    "INSTALL_HINT",
    "ArchiveError",
    "ArchiveOptions",
    "ArchiveReport",
    "FilePlan",
    "OutputFolder",
    "connect",
    "manifest_hash",
    "plan_file",
    "plan_spans",
    "require_archive_extra",
    "run_archive",
    "write_summaries",
]
