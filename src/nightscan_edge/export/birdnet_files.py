"""The BirdNET phone files of a ``birdnet_head`` run, from Python: ``export_birdnet_phone(run_dir)`` runs the usual
export (LiteRT only, FP32 + FP16 + INT8 by default) and returns the paths, for benchmarks and notebooks that
compare it with other routes. What the files hold: ``nightscan_edge.export.birdnet_phone``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nightscan_edge.artifact import ExportError
from nightscan_edge.export.birdnet_phone import PHONE_FORMAT
from nightscan_edge.export.pipeline import export_run
from nightscan_edge.export.report import ExportReport


@dataclass(frozen=True)
class PhoneFiles:
    """The phone files of one birdnet_head export (None where a precision was not written or was rejected)."""

    fp32: Path
    fp16: Path | None
    int8: Path | None
    report: ExportReport


def export_birdnet_phone(
    run_dir: str | Path,
    int8: bool = True,
    out_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> PhoneFiles:
    """Export a birdnet_head run to its LiteRT phone files; ``ExportError`` when the FP32 file failed."""
    report = export_run(run_dir, [PHONE_FORMAT], int8=int8, out_dir=out_dir, progress=progress)
    files: dict[str, Path | None] = {}
    for precision in ("fp32", "fp16", "int8"):
        try:
            artifact = report.artifact(PHONE_FORMAT, precision)
        except KeyError:
            files[precision] = None
            continue
        files[precision] = report.out_dir / artifact.file if artifact.ok and artifact.file else None
    fp32 = files["fp32"]
    if fp32 is None:
        error = report.artifact(PHONE_FORMAT, "fp32").error
        raise ExportError(f"the BirdNET phone file of {run_dir} could not be written: {error}")
    return PhoneFiles(fp32, files["fp16"], files["int8"], report)
