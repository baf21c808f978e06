"""The format table: one ``ArtifactFormat`` object per export format, each registered from its own file.

A row holds data (suffix, runtime, INT8, extra to install) *and* behaviour (export, quantize, embed and
read the manifest, open a runner), as torchvision.io backends or Lightning's accelerator registry do:
callers loop over the rows and never branch on a format's name, so adding a format is one new file.

Every request is validated against the table before any work starts: an unknown name lists the known
ones, and a format whose libraries are missing says which extra to install instead of failing half-way.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nightscan_edge.artifact.errors import ExportError

if TYPE_CHECKING:  # annotations only: torch and the runtimes load when a format is used, not listed
    import torch

    from nightscan_edge.artifact.runner import Runner
    from nightscan_edge.artifact.wrapper import ExportableClassifier

EXPORT_EXTRA = "pip install 'nightscan-edge[export]'"


@dataclass(frozen=True)
class ArtifactFormat:
    """One target: where its files go, which runtime reads them, whether INT8 is offered, and how."""

    name: str
    suffix: str  # ".onnx", ".tflite", ".mlpackage" (a folder), ".pte"
    runtime: str  # the library that runs it on device / in ``nightscan_edge.runtime``
    int8: bool
    extra: str  # what to install when ``modules`` are missing
    modules: tuple[str, ...]  # import names needed to write the format
    description: str
    manifest_location: str  # how an app reads the embedded manifest (USAGE.md of the bundle)
    # Why its runtime cannot run off its own platform (None: it runs here, on Linux, Android and desktops).
    # Such a file is refused by predict, skipped as a bundle's default, and at export its structure is
    # checked and INT8 gated on a PyTorch stand-in instead of measuring parity in the runtime.
    unavailable_reason: str | None = None
    # Place in the table (listings, help texts, which file of a bundle runs by default): lower comes first.
    rank: int = 100
    # Precisions written after FP32 whatever ``--int8`` says (each gated like INT8): a BirdNET phone file's "fp16".
    extra_precisions: tuple[str, ...] = ()

    @property
    def portable(self) -> bool:
        return self.unavailable_reason is None

    def artifact_name(self, precision: str) -> str:
        """``model.onnx`` for FP32, ``model_int8.onnx`` for INT8 (docs/architecture.md layout)."""
        return f"model{'' if precision == 'fp32' else '_' + precision}{self.suffix}"

    def missing_modules(self) -> list[str]:
        return [m for m in self.modules if importlib.util.find_spec(m) is None]

    # ------------------------------------------------------------ behaviour (each format file overrides)
    def export(self, module: ExportableClassifier, example: torch.Tensor, path: Path, labels: list[str]) -> bool:
        """Write the FP32 artifact at ``path``; returns whether its batch dimension is dynamic."""
        raise NotImplementedError(f"{self.name}: export")

    def quantize(
        self,
        fp32_path: Path,
        int8_path: Path,
        module: ExportableClassifier,
        example: torch.Tensor,
        calibration: np.ndarray,
        keep_float: tuple[str, ...] = (),
    ) -> bool:
        """Write the INT8 artifact (calibrated on training inputs); returns whether its batch is dynamic.

        ``keep_float`` names layers (from ``sensitive_layers``) left in float; only formats whose
        ``sensitive_layers`` returns names ever receive any.
        """
        raise NotImplementedError(f"{self.name}: INT8")

    def half(self, fp32_path: Path, fp16_path: Path) -> bool:
        """Write the FP16-weights artifact (rows whose ``extra_precisions`` name "fp16"); returns whether its
        batch dimension is dynamic."""
        raise NotImplementedError(f"{self.name}: FP16")

    def sensitive_layers(self, fp32_path: Path, calibration: np.ndarray) -> list[str]:
        """The layers INT8 would quantize, most sensitive first, for the exporter's accuracy-aware retry
        (``export.int8_float_fallback``); ``[]`` where the format cannot keep chosen layers in float."""
        return []

    def embed_manifest(self, path: Path, manifest: dict[str, Any]) -> None:
        """Write ``manifest`` inside the artifact (replacing any previous one)."""
        raise NotImplementedError(f"{self.name}: embed manifest")

    def read_manifest(self, path: Path) -> dict[str, Any]:
        """The manifest embedded in the artifact; ``ManifestError`` when there is none."""
        raise NotImplementedError(f"{self.name}: read manifest")

    def open_runner(self, path: Path, manifest: dict[str, Any], threads: int | None) -> Runner:
        """The artifact opened in its runtime (``RuntimeUnavailableError`` where it cannot run)."""
        raise NotImplementedError(f"{self.name}: runner")

    def check_structure(self, path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
        """Formats with an ``unavailable_reason``: what can be checked here without running the file."""
        raise NotImplementedError(f"{self.name}: structure check")

    def simulate_int8(self, module: ExportableClassifier) -> tuple[ExportableClassifier, str]:
        """Formats with an ``unavailable_reason``: a PyTorch copy computing what the INT8 file computes, and a
        note saying so (the gate records it)."""
        raise NotImplementedError(f"{self.name}: INT8 simulation")


FORMATS: dict[str, ArtifactFormat] = {}


def register_format(fmt: ArtifactFormat) -> ArtifactFormat:
    """Add a row; the table stays ordered by ``rank`` (then name), whatever order the files are imported in."""
    if fmt.name in FORMATS:
        raise ValueError(f"export format '{fmt.name}' is already registered; pick another name")
    if any(other.suffix == fmt.suffix for other in FORMATS.values()):
        raise ValueError(f"suffix {fmt.suffix} of '{fmt.name}' is already taken")
    rows = sorted([*FORMATS.values(), fmt], key=lambda row: (row.rank, row.name))
    FORMATS.clear()
    FORMATS.update((row.name, row) for row in rows)
    return fmt


def artifact_suffixes() -> tuple[str, ...]:
    """Every suffix an exported model can have (benchmarks and listings look for these)."""
    return tuple(fmt.suffix for fmt in FORMATS.values())


def portable_formats() -> list[ArtifactFormat]:
    """Formats that run on this kind of machine, in the table's order (FP32 ONNX first: the parity reference)."""
    return [fmt for fmt in FORMATS.values() if fmt.portable]


def validate_formats(names: list[str] | tuple[str, ...] | str) -> list[ArtifactFormat]:
    """Check a request against the table: names known, libraries importable. Raises ``ExportError``."""
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    cleaned = [n.strip().lower() for n in names if n.strip()]
    if not cleaned:
        raise ExportError(f"no export format given; choose from {', '.join(FORMATS)}")
    unknown = [n for n in cleaned if n not in FORMATS]
    if unknown:
        raise ExportError(f"unknown export format {', '.join(repr(n) for n in unknown)}; known: {', '.join(FORMATS)}")
    selected = [FORMATS[n] for n in dict.fromkeys(cleaned)]
    for fmt in selected:
        missing = fmt.missing_modules()
        if missing:
            raise ExportError(f"format '{fmt.name}' needs {', '.join(missing)}; install it with {fmt.extra}")
    return selected


def format_by_suffix(path: str | Path) -> ArtifactFormat | None:
    """The format whose suffix ``path`` has, or None."""
    suffix = Path(path).suffix.lower()
    return next((fmt for fmt in FORMATS.values() if fmt.suffix == suffix), None)


def format_for_path(path: str | Path) -> ArtifactFormat:
    """The format of an artifact from its suffix (``model_int8.tflite`` -> tflite)."""
    fmt = format_by_suffix(path)
    if fmt is None:
        raise ExportError(
            f"{Path(path).name} is not an exported model; expected one of {', '.join(artifact_suffixes())}"
        )
    return fmt
