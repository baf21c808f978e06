"""The one result type of a benchmark run; ``bench.json`` is its JSON, Markdown/PNG are views of it.

Measured figures and device *estimates* live in separate fields (``artifacts`` vs ``device_estimates``)
so no report can mix them up. Accuracy-like figures are fractions in [0, 1]; the Markdown shows percent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION = 1
EAGER_FORMAT = "pytorch"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class LatencyStats(_Record):
    """Batch-1 latency with ``threads`` CPU threads, plus throughput at a larger batch when possible."""

    threads: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    mean_ms: float
    iterations: int
    throughput_per_s: float | None = None  # samples/s at throughput_batch
    throughput_batch: int | None = None
    ideal_ms: float | None = None  # FLOPs / this host's GEMM peak at the same thread count
    measured_over_ideal: float | None = None


class ArtifactResult(_Record):
    """Everything measured for one file (one format x precision) or the PyTorch eager baseline."""

    name: str  # e.g. "model_int8.onnx" or "pytorch (eager)"
    format: str
    precision: str
    path: str | None
    size_mb: float | None
    status: Literal["ok", "failed", "unavailable"]  # unavailable: this machine cannot run it (Core ML off macOS)
    error: str | None = None
    dynamic_batch: bool | None = None
    latency: list[LatencyStats] = []
    peak_memory_mb: float | None = None  # peak RSS added by loading + batch-1 inference
    accuracy: float | None = None
    macro_f1: float | None = None
    per_class_recall: dict[str, float] | None = None
    # multi-label files: mAP and per-class AP (accuracy is then the share of samples with every class decided right
    # at the manifest's thresholds, macro-F1 and recall are at those thresholds)
    map: float | None = None
    per_class_ap: dict[str, float | None] | None = None
    agreement_with_eager: float | None = None  # top-1 (multi-label: per-class decision) agreement with PyTorch
    int8_accuracy_drop_points: float | None = None  # vs the FP32 artifact of the same format
    int8_class_drop_points: dict[str, float] | None = None  # recall drop per class, percentage points

    def latency_at(self, threads: int) -> LatencyStats | None:
        return next((stats for stats in self.latency if stats.threads == threads), None)

    @property
    def is_baseline(self) -> bool:
        return self.format == EAGER_FORMAT


class HostInfo(_Record):
    cpu: str
    logical_cores: int
    usable_cores: int
    platform: str
    torch_version: str
    gemm_gflops: dict[int, float]  # threads -> measured FP32 matmul peak


class DeviceEstimate(_Record):
    """Estimated (not measured) latency on a device class, from FLOPs and a cited sustained GFLOPS."""

    device: str
    title: str
    sustained_gflops: float
    estimated_ms: float
    basis: str
    source: str


class EvaluationSet(_Record):
    """The labeled samples accuracy was measured on."""

    source: str
    samples: int


class SeedTarget(_Record):
    """The seed project's targets for this input kind (ranges: below the low end is better still)."""

    latency_ms: tuple[float, float]
    size_mb: tuple[float, float]
    accuracy_pct: tuple[float, float]


class BenchResult(_Record):
    schema_version: int = SCHEMA_VERSION
    created: str  # ISO-8601 UTC
    source: str  # run folder, export folder or bundle that was benchmarked
    model_name: str
    input_kind: Literal["audio", "image"]
    labels: list[str]
    run_id: str | None
    model_flops: int
    frontend_flops: int
    flops_note: str
    threads: list[int]
    warmup: int
    iterations: int
    host: HostInfo
    evaluation_set: EvaluationSet | None
    artifacts: list[ArtifactResult]
    device_estimates: list[DeviceEstimate]
    target: SeedTarget

    @property
    def total_flops(self) -> int:
        """FLOPs of what the exported file does: front-end (audio) + network."""
        return self.model_flops + self.frontend_flops

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def read(cls, path: str | Path) -> BenchResult:
        return cls.model_validate_json(Path(path).read_text())
