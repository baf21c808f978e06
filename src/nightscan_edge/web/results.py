"""What an export and its benchmark measured, as one table a person can read on the run page.

One row per exported file: size, batch-1 p50/p95 latency at the benchmark's first thread count, accuracy on
the benchmark's labelled set, INT8 accuracy drop, parity with PyTorch, the quality gate's verdict; plus the
calibrated threshold and how much stays on the edge at it. The figures are read from the files the export
and bench commands wrote (``export_report.json``, ``bench.json`` via ``BenchResult.read``), never recomputed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nightscan_edge.bench.result import BenchResult
from nightscan_edge.sample_size import accuracy_warning

EXPORT_REPORT = "export_report.json"
BENCH_JSON = "bench.json"
BENCH_PNG = "bench.png"


def read_export_report(export_dir: Path) -> dict[str, Any] | None:
    try:
        report: dict[str, Any] = json.loads((Path(export_dir) / EXPORT_REPORT).read_text())
        return report
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def read_bench(bench_dir: Path | None) -> BenchResult | None:
    if bench_dir is None or not (Path(bench_dir) / BENCH_JSON).is_file():
        return None
    try:
        return BenchResult.read(Path(bench_dir) / BENCH_JSON)
    except ValueError:  # written by another version: the table shows the export's own figures only
        return None


def _gate_verdict(artifact: dict[str, Any]) -> str:
    if artifact["precision"] != "int8":
        return "—"
    gate = artifact.get("gate") or {}
    if gate.get("passed") is True:
        return "passed"
    if gate.get("passed") is False:
        return "rejected: " + (gate.get("reason") or artifact.get("error") or "")
    return str(artifact.get("status", "—"))


def export_results(export_dir: Path, bench_dir: Path | None = None) -> dict[str, Any] | None:
    """``{rows, calibration, samples, bench_threads, bench_png, warnings}`` or None before the export wrote
    its report."""
    report = read_export_report(export_dir)
    if report is None:
        return None
    bench = read_bench(bench_dir)
    threads = bench.threads[0] if bench and bench.threads else None
    measured = {(a.format, a.precision): a for a in bench.artifacts} if bench else {}
    rows = []
    for artifact in report.get("artifacts", []):
        parity = artifact.get("parity") or {}
        gate = artifact.get("gate") or {}
        timed = measured.get((artifact["format"], artifact["precision"]))
        stats = timed.latency_at(threads) if timed is not None and threads is not None else None
        rows.append(
            {
                "file": artifact.get("file"),
                "format": artifact["format"],
                "precision": artifact["precision"],
                "status": artifact["status"],
                "size_mb": artifact["size_bytes"] / 1e6 if artifact.get("size_bytes") else None,
                "p50_ms": stats.p50_ms if stats else None,
                "p95_ms": stats.p95_ms if stats else None,
                "accuracy": timed.accuracy if timed is not None else None,
                "int8_drop_points": gate.get("accuracy_drop"),
                "parity_max_abs_diff": parity.get("max_abs_diff"),
                "parity_top1": parity.get("top1_agreement"),
                "parity_note": None if parity.get("max_abs_diff") is not None else (artifact.get("error") or "—"),
                "gate": _gate_verdict(artifact),
                "bench_status": None if timed is None else (timed.error or timed.status),
            }
        )
    calibration = report.get("calibration") or {}
    warnings = list(calibration.get("warnings", []))
    if bench and bench.evaluation_set and bench.evaluation_set.samples:
        accuracies = [a.accuracy for a in bench.artifacts if a.accuracy is not None and not a.is_baseline]
        if accuracies:
            warning = accuracy_warning(max(accuracies), bench.evaluation_set.samples, "benchmark examples")
            if warning:
                warnings.append(warning)
    if str(report.get("samples", "")).startswith("generated"):
        warnings.append("parity and the INT8 gate ran on generated inputs: the run's data was not found")
    return {
        "rows": rows,
        "samples": report.get("samples"),
        "temperature": report.get("temperature"),
        "calibration": {
            "threshold": calibration.get("recommended_threshold"),
            "edge_share": calibration.get("edge_share_at_threshold"),
            "accuracy_at_threshold": calibration.get("accuracy_at_threshold"),
            "target_accuracy": calibration.get("target_accuracy"),
            "windows": calibration.get("samples"),
        }
        if calibration
        else None,
        "bench_threads": threads,
        "bench_png": bool(bench_dir and (Path(bench_dir) / BENCH_PNG).is_file()),
        "warnings": warnings,
    }
