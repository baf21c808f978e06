"""Confirm the front's best trials on more seeds before naming a winner.

A trial's macro-F1 is one training run on one seed. On a few hundred clips the seed alone moves it by a few
points, and a search of tens of trials picks the luckiest draw: the 2-hour front of docs/tune.md named a winner
at 0.886 whose configuration scored 0.826 and 0.838 on two other seeds, and whose INT8 file the gate refused on
both. So ``--confirm K`` trains the K most accurate trials within the budget again on ``--confirm-seeds S`` more
seeds (``train.seed`` + 1 .. + S), exports, INT8-gates and benches each run as a trial does, and the winner is the
candidate with the best mean macro-F1 over all its seeds among those within the budget on every seed.

Each (trial, seed) is an ordinary run folder, ``<study>-trial-NNNN-seed-S`` beside the trials' own, and its
measurement is kept in ``confirm.json`` as soon as it exists: a cut-off confirmation resumes where it stopped
(a half-trained run folder continues from its last checkpoint), and a finished one is never trained twice.
A configuration that fails on a seed is recorded with its error and cannot win; a run cut short by a signal
(``TrainingCancelled``) is not recorded, so the same command continues it.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nightscan_edge.atomic import write_json_atomic
from nightscan_edge.errors import TrainingCancelled
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.study_folder import StudyFolder
from nightscan_edge.tune import attrs
from nightscan_edge.tune.results import TrialRow
from nightscan_edge.tune.trial import StudyPlan, export_and_measure, train_candidate


@dataclass(frozen=True)
class Confirmation:
    """One candidate trial measured on its own seed and the extra ones."""

    trial: int
    seeds: list[int]
    macro_f1: list[float | None]  # per seed, the trial's own first; None: that run failed
    within_budget: list[bool]
    int8_gate: list[str | None]
    errors: list[str | None]

    @property
    def complete(self) -> bool:
        return all(value is not None for value in self.macro_f1)

    @property
    def robust(self) -> bool:
        """Measured and within the budget (INT8 gate included) on every seed."""
        return self.complete and all(self.within_budget)

    @property
    def mean_macro_f1(self) -> float | None:
        values = [v for v in self.macro_f1 if v is not None]
        return statistics.fmean(values) if values else None

    def as_dict(self) -> dict[str, Any]:
        worst = min((v for v in self.macro_f1 if v is not None), default=None)
        return {
            "trial": self.trial,
            "seeds": self.seeds,
            "macro_f1": self.macro_f1,
            "mean_macro_f1": self.mean_macro_f1,
            "min_macro_f1": worst,
            "within_budget": self.within_budget,
            "int8_gate": self.int8_gate,
            "errors": self.errors,
            "robust": self.robust,
        }


def candidates(rows: list[TrialRow], count: int) -> list[TrialRow]:
    """The ``count`` most accurate trials within the budget (ties: the faster)."""
    measured = [r for r in rows if r.within_budget and r.macro_f1 is not None and r.latency_p50_ms is not None]
    measured.sort(key=lambda r: (-(r.macro_f1 or 0.0), r.latency_p50_ms or 0.0))
    return measured[:count]


def _base_seed(plan: StudyPlan) -> int:
    return int(plan.base_layer["train"].get("seed", 0))


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    entries: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")).get("runs", {})
    return entries


def confirm_candidates(
    plan: StudyPlan,
    rows: list[TrialRow],
    count: int,
    seeds: int,
    say: Callable[[str], None] = print,
) -> list[Confirmation]:
    """Train, export and measure each candidate on the extra seeds (resuming earlier work) -> confirmations."""
    files = StudyFolder(plan.folder)
    runs = _read(files.confirm_file)  # "<trial>/<seed>" -> the measurement or the error
    base_seed = _base_seed(plan)
    extra = [base_seed + step for step in range(1, seeds + 1)]
    chosen = candidates(rows, count)
    for row in chosen:
        for seed in extra:
            key = f"{row.trial}/{seed}"
            if key in runs:
                continue
            say(f"confirming trial {row.trial} on seed {seed}")
            runs[key] = _measure_on_seed(plan, row, seed)
            write_json_atomic(files.confirm_file, {"seeds": extra, "runs": runs})
    return [_confirmation(row, base_seed, extra, runs) for row in chosen]


def _measure_on_seed(plan: StudyPlan, row: TrialRow, seed: int) -> dict[str, Any]:
    folder = RunFolder(plan.runs_dir / f"{plan.name}-trial-{row.trial:04d}-seed-{seed}")
    entry: dict[str, Any] = {"run_dir": str(folder.path)}
    seeded = dataclasses.replace(plan, base_layer=_with_seed(plan.base_layer, seed))
    resumed = folder.path if folder.last_checkpoint.is_file() and not folder.report_file.is_file() else None
    try:
        if folder.report_file.is_file():  # trained before a cut-off; export and measure only
            report = json.loads(folder.report_file.read_text(encoding="utf-8"))
            run_dir, macro_f1 = folder.path, report.get("val", {}).get("macro_f1")
        else:
            run_dir, macro_f1 = train_candidate(seeded, dict(row.params), folder, resumed, [])
        measurement = export_and_measure(seeded, dict(row.params), folder, run_dir, macro_f1, entry.__setitem__)
    except TrainingCancelled:
        raise  # a signal, not a result: nothing is recorded, and the next start continues the run folder
    except Exception as error:  # a configuration that fails on a seed cannot win; the others go on
        entry["error"] = f"{type(error).__name__}: {error}".splitlines()[0][:500]
        return entry
    entry[attrs.MEASUREMENT] = measurement.as_dict()
    return entry


def _with_seed(base_layer: dict[str, Any], seed: int) -> dict[str, Any]:
    return {**base_layer, "train": {**base_layer["train"], "seed": seed}}


def _confirmation(row: TrialRow, base_seed: int, extra: list[int], runs: dict[str, Any]) -> Confirmation:
    macro_f1: list[float | None] = [row.macro_f1]
    within: list[bool] = [bool(row.within_budget)]
    gates: list[str | None] = [row.int8_gate]
    errors: list[str | None] = [None]
    for seed in extra:
        entry = runs.get(f"{row.trial}/{seed}", {})
        measured = entry.get(attrs.MEASUREMENT)
        macro_f1.append(measured["macro_f1"] if measured else None)
        within.append(bool(measured) and not measured["violations"])
        gates.append(measured["int8_gate"] if measured else None)
        errors.append(entry.get("error"))
    return Confirmation(row.trial, [base_seed, *extra], macro_f1, within, gates, errors)
