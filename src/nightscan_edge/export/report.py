"""What an export produced: one ``ArtifactResult`` per file and the ``ExportReport`` of the run.

Its own module so the bundle writer, the pipeline and the facade read one type without importing each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ArtifactResult:
    format: str
    precision: str
    status: str  # ok | failed | parity_failed | rejected | skipped (a format this model cannot go to, said why)
    file: str | None = None
    error: str | None = None
    size_bytes: int | None = None
    seconds: float | None = None
    dynamic_batch: bool | None = None
    batch_sizes_checked: list[int] = field(default_factory=list)
    parity: dict[str, Any] | None = None
    gate: dict[str, Any] | None = None
    spec_check: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class ExportReport:
    export_id: str
    run_id: str
    model_name: str
    out_dir: Path
    temperature: float
    samples: str  # where parity/calibration inputs came from
    artifacts: list[ArtifactResult]
    calibration: dict[str, Any] | None = None
    bundle: Path | None = None
    seconds: float = 0.0
    licence: str | None = None  # inherited from pretrained weights (BirdNET teacher); None: Apache-2.0

    @property
    def ok(self) -> bool:
        """Every FP32 artifact passed (INT8 rejections by the gate are a result, not an error)."""
        return all(a.ok for a in self.artifacts if a.precision == "fp32" and a.status != "skipped")

    def artifact(self, format_name: str, precision: str = "fp32") -> ArtifactResult:
        for item in self.artifacts:
            if item.format == format_name and item.precision == precision:
                return item
        raise KeyError(f"no {format_name} {precision} artifact in export {self.export_id}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        data["bundle"] = str(self.bundle) if self.bundle else None
        data["ok"] = self.ok
        return data

    def summary_lines(self) -> list[str]:
        lines = [
            f"export {self.export_id} of run {self.run_id} ({self.model_name}) -> {self.out_dir}",
            f"temperature {self.temperature:.3f}; parity inputs: {self.samples}",
        ]
        if self.licence:
            lines.append(f"licence: {self.licence} -- the exported model inherits it")
        if self.calibration:
            c = self.calibration
            threshold = (
                f"threshold {c['recommended_threshold']:.2f} keeps {c['edge_share_at_threshold']:.0%} on the edge "
                f"at {c['accuracy_at_threshold']:.1%} accuracy"
                if c["recommended_threshold"] is not None
                else "no threshold recommended"
                if c.get("warnings")
                else f"no threshold reaches {c['target_accuracy']:.0%} accuracy"
            )
            lines.append(f"calibration: ECE {c['ece_before']:.3f} -> {c['ece_after']:.3f}; {threshold}")
            lines.extend(f"warning: {warning}" for warning in c.get("warnings", []))
        for a in self.artifacts:
            size = f"{a.size_bytes / 1e6:7.2f} MB" if a.size_bytes else "      -   "
            parity = ""
            if a.parity and "max_abs_diff" in a.parity:
                parity = f"max|dp| {a.parity['max_abs_diff']:.2e} top-1 {a.parity['top1_agreement']:.1%}"
            elif a.parity:
                parity = f"parity {a.parity.get('numeric')}"
            gate = ""
            if a.gate:
                gate = f" acc {a.gate['fp32_accuracy']:.1f}->{a.gate['int8_accuracy']:.1f}"
                if a.gate.get("simulated"):
                    gate += " (simulated)"
            seconds = f"{a.seconds:5.1f} s" if a.seconds is not None else ""
            lines.append(
                f"  {a.format:<10} {a.precision:<4} {a.status:<13} {size} {seconds:>7}  {parity}{gate}"
                + (f"  {'NOT WRITTEN' if a.status == 'skipped' else 'ERROR'}: {a.error}" if a.error else "")
            )
        if self.bundle:
            lines.append(f"bundle: {self.bundle}")
        return lines
