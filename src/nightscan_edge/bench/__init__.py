"""Benchmarks per format and precision -> one ``BenchResult`` -> bench.json / bench.md / bench.png,
device-class estimates (kept apart from measurements) and the release budget gate."""

from nightscan_edge.bench.budget import Budget, BudgetError, Violation, check_budget, load_budget, parse_budget
from nightscan_edge.bench.devices import DEVICE_CLASSES, DeviceClass, list_device_classes
from nightscan_edge.bench.options import BenchOptions, Samples
from nightscan_edge.bench.report import render_markdown, write_plot, write_reports
from nightscan_edge.bench.result import ArtifactResult, BenchResult, DeviceEstimate, LatencyStats
from nightscan_edge.bench.run import benchmark, run_bench
from nightscan_edge.bench.sources import BenchSource, BenchSourceError, open_source

__all__ = [
    "ArtifactResult",
    "BenchOptions",
    "BenchResult",
    "BenchSource",
    "BenchSourceError",
    "Budget",
    "BudgetError",
    "DEVICE_CLASSES",
    "DeviceClass",
    "DeviceEstimate",
    "LatencyStats",
    "Samples",
    "Violation",
    "benchmark",
    "check_budget",
    "list_device_classes",
    "load_budget",
    "open_source",
    "parse_budget",
    "render_markdown",
    "run_bench",
    "write_plot",
    "write_reports",
]
