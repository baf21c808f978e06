"""The one table of export formats (Ultralytics' ``export_formats()`` idea).

Every request is validated against this table before any work starts: an unknown name lists the known
ones, and a format whose libraries are missing says which extra to install instead of failing half-way.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from nightscan_edge.export.errors import ExportError

EXPORT_EXTRA = "pip install 'nightscan-edge[export]'"


@dataclass(frozen=True)
class ExportFormat:
    """One target: where its files go, which runtime reads them, whether INT8 is offered."""

    name: str
    suffix: str  # ".onnx", ".tflite", ".mlpackage" (a folder), ".pte"
    runtime: str  # the library that runs it on device / in ``nightscan_edge.runtime``
    int8: bool
    extra: str  # what to install when ``modules`` are missing
    modules: tuple[str, ...]  # import names needed to write the format
    description: str

    def artifact_name(self, precision: str) -> str:
        """``model.onnx`` for FP32, ``model_int8.onnx`` for INT8 (docs/architecture.md layout)."""
        return f"model{'' if precision == 'fp32' else '_' + precision}{self.suffix}"

    def missing_modules(self) -> list[str]:
        return [m for m in self.modules if importlib.util.find_spec(m) is None]


FORMATS: dict[str, ExportFormat] = {
    fmt.name: fmt
    for fmt in (
        ExportFormat(
            "onnx",
            ".onnx",
            "onnxruntime",
            True,
            EXPORT_EXTRA,
            ("onnx", "onnxscript", "onnxruntime"),
            "ONNX opset 18; ONNX Runtime on Android/iOS/desktop/web; INT8 = static QDQ per-channel",
        ),
        ExportFormat(
            "tflite",
            ".tflite",
            "ai-edge-litert",
            True,
            EXPORT_EXTRA,
            ("litert_torch", "ai_edge_litert"),
            "LiteRT (TFLite) flatbuffer via litert-torch; INT8 via ai-edge-quantizer, float in/out",
        ),
        ExportFormat(
            "coreml",
            ".mlpackage",
            "coremltools (macOS/iOS only)",
            True,
            EXPORT_EXTRA,
            ("coremltools",),
            "Core ML ML Program for iOS 16+; INT8 = per-channel weight quantization",
        ),
        ExportFormat(
            "executorch",
            ".pte",
            "executorch",
            True,
            EXPORT_EXTRA,
            ("executorch",),
            "ExecuTorch program lowered to XNNPACK; INT8 via PT2E XNNPACK quantizer",
        ),
    )
}

# Runtimes this package can load for parity checks and benchmarks (Core ML needs macOS).
ARTIFACT_SUFFIXES = tuple(fmt.suffix for fmt in FORMATS.values())


def validate_formats(names: list[str] | tuple[str, ...] | str) -> list[ExportFormat]:
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


def format_for_path(path) -> ExportFormat:
    """The format of an artifact from its suffix (``model_int8.tflite`` -> tflite)."""
    from pathlib import Path

    suffix = Path(path).suffix.lower()
    for fmt in FORMATS.values():
        if fmt.suffix == suffix:
            return fmt
    raise ExportError(f"{Path(path).name} is not an exported model; expected one of {', '.join(ARTIFACT_SUFFIXES)}")
