"""The release budget gate: a YAML budget checked against a ``BenchResult``.

Any CI system can gate a model release on ``nightscan-edge check RUN --budget budget.yaml``: exit 1 with
a table of what broke the budget, 0 otherwise. Budget files are strict (pydantic, ``extra="forbid"``): a
misspelt key would otherwise silently disable a limit, which is the one thing a gate must never do.
Latency limits apply to batch-1 p50/p95 with **1 thread** (the conservative phone case).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nightscan_edge.bench.result import ArtifactResult, BenchResult
from nightscan_edge.config_layers import ConfigError, read_yaml_file
from nightscan_edge.errors import UserError

BUDGET_THREADS = 1


class BudgetError(UserError):
    """A budget file that cannot be used (missing, not YAML, unknown key, wrong type)."""


class Budget(BaseModel):
    """Limits for every exported file (optionally only some formats/precisions). Omitted = no limit."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model: str | None = Field(None, description="the run must be this registered model")
    formats: list[str] | None = Field(
        None, description="formats the limits apply to (default: require_formats when given, else all exported)"
    )
    precisions: list[str] | None = Field(None, description="precisions the limits apply to: fp32, int8")
    require_formats: list[str] = Field(default_factory=list, description="formats that must be exported and run")
    allow_failed: bool = Field(False, description="a file that could not be run is not a violation")
    max_mb: float | None = Field(None, gt=0, description="file size, MB")
    max_latency_ms: float | None = Field(None, gt=0, description="p50 at batch 1 with 1 thread, ms")
    max_p95_latency_ms: float | None = Field(None, gt=0, description="p95 at batch 1 with 1 thread, ms")
    max_peak_memory_mb: float | None = Field(None, gt=0, description="peak RSS added by load + inference, MB")
    min_accuracy_pct: float | None = Field(None, ge=0, le=100, description="accuracy on the test set, percent")
    min_macro_f1_pct: float | None = Field(None, ge=0, le=100, description="macro-F1 on the test set, percent")
    max_int8_accuracy_drop_points: float | None = Field(None, ge=0, description="INT8 vs FP32 accuracy, points")
    max_int8_class_drop_points: float | None = Field(None, ge=0, description="INT8 vs FP32 recall of any class, points")

    @field_validator("min_accuracy_pct", "min_macro_f1_pct")
    @classmethod
    def _percent_not_fraction(cls, value: float | None) -> float | None:
        if value is not None and 0 < value < 1:
            raise ValueError(f"is in percent (0-100); {value} looks like a fraction, write {100 * value:g}")
        return value

    @model_validator(mode="after")
    def _some_limit(self) -> Budget:
        limits = [name for name in type(self).model_fields if name.startswith(("max_", "min_"))]
        if all(getattr(self, name) is None for name in limits) and not self.require_formats and self.model is None:
            raise ValueError(f"sets no limit; use at least one of: {', '.join(limits)}")
        return self


def _format_errors(error: ValidationError) -> str:
    known = ", ".join(Budget.model_fields)
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "budget"
        if item["type"] == "extra_forbidden":
            parts.append(f"unknown key '{where}' (known keys: {known})")
        else:
            message = item["msg"].removeprefix("Value error, ")
            got = item.get("input")
            parts.append(
                f"{where}: {message}" + (f" (got {got!r})" if not isinstance(got, dict) and got is not None else "")
            )
    return "; ".join(parts)


def parse_budget(data: object, where: str = "budget") -> Budget:
    if not isinstance(data, dict):
        raise BudgetError(f"{where} must be a YAML mapping of limits, e.g. 'max_mb: 3'; got {type(data).__name__}")
    try:
        return Budget.model_validate(data)
    except ValidationError as error:
        raise BudgetError(f"{where}: {_format_errors(error)}") from None


def load_budget(path: str | Path) -> Budget:
    try:
        data = read_yaml_file(path, "budget file")
    except ConfigError as error:
        raise BudgetError(str(error)) from None
    return parse_budget(data, f"budget file {path}")


@dataclass(frozen=True)
class Violation:
    artifact: str
    check: str
    limit: str
    measured: str


def gated_formats(budget: Budget) -> list[str] | None:
    """The formats the limits apply to: ``formats``, else ``require_formats``, else every format (None).

    A budget that asks for ONNX and TFLite says what ships; a Core ML file that was exported too (the
    README's demo exports all four) is not part of that release and must not fail the gate.
    """
    return budget.formats if budget.formats is not None else (list(budget.require_formats) or None)


def _applies(budget: Budget, artifact: ArtifactResult) -> bool:
    formats = gated_formats(budget)
    return (
        not artifact.is_baseline
        and (formats is None or artifact.format in formats)
        and (budget.precisions is None or artifact.precision in budget.precisions)
    )


def _check_artifact(budget: Budget, artifact: ArtifactResult) -> list[Violation]:
    found: list[Violation] = []

    def check(
        name: str, limit: float | None, measured: float | None, higher_is_worse: bool, unit: str, not_measured_hint: str
    ) -> None:
        if limit is None:
            return
        if measured is None:
            found.append(Violation(artifact.name, name, f"{limit:g}{unit}", f"not measured ({not_measured_hint})"))
        elif (measured > limit) if higher_is_worse else (measured < limit):
            found.append(
                Violation(
                    artifact.name, name, f"{'≤' if higher_is_worse else '≥'} {limit:g}{unit}", f"{measured:.2f}{unit}"
                )
            )

    if artifact.status != "ok":
        if artifact.size_mb is not None:
            check("max_mb", budget.max_mb, artifact.size_mb, True, " MB", "")
        if artifact.status == "failed" and not budget.allow_failed:
            found.append(Violation(artifact.name, "runs", "exported, loads and predicts", artifact.error or "failed"))
        return found  # "unavailable" (e.g. Core ML off macOS): only its size can be checked here
    stats = artifact.latency_at(BUDGET_THREADS)
    no_latency = f"no {BUDGET_THREADS}-thread run; bench with --threads 1"
    no_labels = "no labeled test set; pass --data"
    check("max_mb", budget.max_mb, artifact.size_mb, True, " MB", "size unknown")
    check("max_latency_ms", budget.max_latency_ms, None if stats is None else stats.p50_ms, True, " ms", no_latency)
    check(
        "max_p95_latency_ms",
        budget.max_p95_latency_ms,
        None if stats is None else stats.p95_ms,
        True,
        " ms",
        no_latency,
    )
    check("max_peak_memory_mb", budget.max_peak_memory_mb, artifact.peak_memory_mb, True, " MB", "needs Linux")
    check(
        "min_accuracy_pct",
        budget.min_accuracy_pct,
        None if artifact.accuracy is None else 100 * artifact.accuracy,
        False,
        " %",
        no_labels,
    )
    check(
        "min_macro_f1_pct",
        budget.min_macro_f1_pct,
        None if artifact.macro_f1 is None else 100 * artifact.macro_f1,
        False,
        " %",
        no_labels,
    )
    if artifact.precision == "int8":
        no_reference = "no FP32 file of the same format with accuracy"
        check(
            "max_int8_accuracy_drop_points",
            budget.max_int8_accuracy_drop_points,
            artifact.int8_accuracy_drop_points,
            True,
            " pt",
            no_reference,
        )
        if budget.max_int8_class_drop_points is not None:
            drops = artifact.int8_class_drop_points
            if drops is None:
                check("max_int8_class_drop_points", budget.max_int8_class_drop_points, None, True, " pt", no_reference)
            for label, drop in sorted((drops or {}).items()):
                if drop > budget.max_int8_class_drop_points:
                    found.append(
                        Violation(
                            artifact.name,
                            f"max_int8_class_drop_points ({label})",
                            f"≤ {budget.max_int8_class_drop_points:g} pt",
                            f"{drop:.2f} pt",
                        )
                    )
    return found


def check_budget(result: BenchResult, budget: Budget) -> list[Violation]:
    """Every way ``result`` breaks ``budget`` (empty = within budget)."""
    violations: list[Violation] = []
    if budget.model is not None and budget.model != result.model_name:
        violations.append(Violation("(run)", "model", budget.model, result.model_name))
    exported = {a.format for a in result.artifacts if not a.is_baseline and a.status == "ok"}
    for required in budget.require_formats:
        if required not in exported:
            violations.append(Violation("(export)", "require_formats", required, "not exported or failed to run"))
    applicable = [a for a in result.artifacts if _applies(budget, a)]
    if not applicable and (budget.formats or budget.precisions):
        violations.append(
            Violation(
                "(export)",
                "formats/precisions",
                f"{budget.formats or 'any'} / {budget.precisions or 'any'}",
                "no such file",
            )
        )
    for artifact in applicable:
        violations.extend(_check_artifact(budget, artifact))
    return violations
