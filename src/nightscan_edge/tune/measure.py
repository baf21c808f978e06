"""What a surviving trial measured on its exported file, and the budget's limits as Optuna constraints.

The figures come from the project's benchmark (``bench.benchmark``: the file in its real runtime, 1 thread,
front-end included) and its budget gate (``bench.check_budget``: the very check ``nightscan-edge check`` runs).
Optuna reads a constraint as satisfied when it is <= 0, so each numeric limit becomes its relative excess
((measured - limit) / limit; lower bounds mirrored) on the worst gated file, plus one entry that is 1 when the
gate found a violation the numbers do not show (a required format missing, an INT8 file rejected).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import optuna

from nightscan_edge.bench import BenchResult, Budget, check_budget
from nightscan_edge.bench.budget import BUDGET_THREADS, gated_formats
from nightscan_edge.bench.result import ArtifactResult
from nightscan_edge.export.report import ExportReport
from nightscan_edge.tune import attrs

# Limits that do not depend on training: an unreachable budget is one the smallest configuration breaks here.
SIZE_AND_SPEED_LIMITS = ("max_mb", "max_latency_ms", "max_p95_latency_ms", "max_peak_memory_mb")
QUALITY_LIMITS = ("min_accuracy_pct", "min_macro_f1_pct", "max_int8_class_drop_points")


@dataclass(frozen=True)
class Measurement:
    """One surviving trial's row of the Pareto table."""

    macro_f1: float  # validation macro-F1 of the trained model (the objective to maximise)
    latency_p50_ms: float  # the shipped file, batch 1, 1 thread (the objective to minimise)
    latency_p95_ms: float
    size_mb: float
    peak_memory_mb: float | None
    file: str  # the shipped file: the first gated format, INT8 when it passed the gate
    int8_gate: str  # pass | fail | n/a
    violations: list[str]
    constraints: list[float]

    @property
    def within_budget(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def shipped_artifact(result: BenchResult, budget: Budget) -> ArtifactResult:
    """The file a phone would get: first gated format (else the first measured), INT8 when present."""
    measured = [a for a in result.artifacts if not a.is_baseline and a.status == "ok"]
    if not measured:
        errors = "; ".join(f"{a.name}: {a.error}" for a in result.artifacts if a.error) or "no file was exported"
        raise RuntimeError(f"no exported file could be measured ({errors})")
    formats = gated_formats(budget) or [measured[0].format]
    ranked = sorted(
        (a for a in measured if a.format in formats),
        key=lambda a: (formats.index(a.format), a.precision != "int8"),
    )
    return ranked[0] if ranked else measured[0]


def int8_gate(report: ExportReport) -> str:
    states = [a.status for a in report.artifacts if a.precision == "int8"]
    if not states:
        return "n/a"
    return "pass" if all(state == "ok" for state in states) else "fail"


def _excess(measured: float | None, limit: float | None, upper: bool) -> float | None:
    if limit is None or measured is None:
        return None
    return (measured - limit) / limit if upper else (limit - measured) / limit


def limit_excess(result: BenchResult, budget: Budget) -> dict[str, float]:
    """Each numeric limit's relative excess on the worst gated file (<= 0: within the limit)."""
    formats = gated_formats(budget)
    gated = [
        a
        for a in result.artifacts
        if not a.is_baseline
        and a.status == "ok"
        and (formats is None or a.format in formats)
        and (budget.precisions is None or a.precision in budget.precisions)
    ]
    excess: dict[str, float] = {}
    for artifact in gated:
        stats = artifact.latency_at(BUDGET_THREADS)
        drops = list((artifact.int8_class_drop_points or {}).values())
        checks = {
            "max_mb": _excess(artifact.size_mb, budget.max_mb, True),
            "max_latency_ms": _excess(stats.p50_ms if stats else None, budget.max_latency_ms, True),
            "max_p95_latency_ms": _excess(stats.p95_ms if stats else None, budget.max_p95_latency_ms, True),
            "max_peak_memory_mb": _excess(artifact.peak_memory_mb, budget.max_peak_memory_mb, True),
            "min_accuracy_pct": _excess(
                None if artifact.accuracy is None else 100 * artifact.accuracy, budget.min_accuracy_pct, False
            ),
            "min_macro_f1_pct": _excess(
                None if artifact.macro_f1 is None else 100 * artifact.macro_f1, budget.min_macro_f1_pct, False
            ),
            "max_int8_class_drop_points": _excess(
                max(drops) if drops else None, budget.max_int8_class_drop_points, True
            ),
        }
        for name, value in checks.items():
            if value is not None:
                excess[name] = max(excess.get(name, value), value)
    return excess


def measure(result: BenchResult, report: ExportReport, budget: Budget, macro_f1: float) -> Measurement:
    shipped = shipped_artifact(result, budget)
    stats = shipped.latency_at(BUDGET_THREADS)
    if stats is None:
        raise RuntimeError(f"{shipped.name} has no {BUDGET_THREADS}-thread latency")
    violations = [f"{v.artifact}: {v.check} {v.limit}, measured {v.measured}" for v in check_budget(result, budget)]
    excess = limit_excess(result, budget)
    unexplained = 1.0 if violations and all(value <= 0 for value in excess.values()) else 0.0
    return Measurement(
        macro_f1=macro_f1,
        latency_p50_ms=stats.p50_ms,
        latency_p95_ms=stats.p95_ms,
        size_mb=float(shipped.size_mb or 0.0),
        peak_memory_mb=shipped.peak_memory_mb,
        file=shipped.path or shipped.name,
        int8_gate=int8_gate(report),
        violations=violations,
        # one entry per limit, always in this order (0 for a limit the budget does not set)
        constraints=[*(excess.get(name, 0.0) for name in (*SIZE_AND_SPEED_LIMITS, *QUALITY_LIMITS)), unexplained],
    )


def size_and_speed_excess(result: BenchResult, budget: Budget) -> dict[str, float]:
    """The limits a smaller model cannot be trained into meeting, and by how much they are broken."""
    return {name: value for name, value in limit_excess(result, budget).items() if name in SIZE_AND_SPEED_LIMITS}


def constraints_of(trial: optuna.trial.FrozenTrial) -> list[float]:
    """Optuna's ``constraints_func``: the constraints the trial stored. A finished trial without any is feasible; a
    trial with no values (stopped by the pruner) counts as over the budget, because multi-objective TPE ranks the
    values of every feasible trial and a pruned one has none (every later trial then failed at sampling)."""
    stored = trial.user_attrs.get(attrs.CONSTRAINTS)
    if stored is None:
        return [0.0] if trial.values is not None else [1.0]
    return [float(value) for value in stored]
