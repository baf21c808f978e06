"""One trial: the sampled values -> an ordinary run folder, trained, pruned if asked, exported, INT8-gated,
benched, and told to Optuna as (macro-F1, latency) with the budget's constraints.

The run folder is ``<study folder>/runs/<study>-trial-NNNN``: the trial number comes from the storage, which
hands each number out once, so two workers (or machines) never share a folder. A trial the pruner stops is a
finished run with fewer epochs and nothing exported. A trial that crashes is recorded (its error in the
trial's ``error`` attribute, the run folder's ``failed`` status) and the study goes on; a trial cut short by a
signal is recorded as interrupted, and the next start of the same command resumes its run folder.
"""

from __future__ import annotations

import math
import resource
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from nightscan_edge.atomic import write_text_atomic
from nightscan_edge.bench import BenchOptions, Budget, run_bench
from nightscan_edge.config import resolve_config
from nightscan_edge.errors import TrainingCancelled
from nightscan_edge.export.pipeline import export_run
from nightscan_edge.models.search_space import SearchSpace, Value
from nightscan_edge.prune.run import prune_run
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.study_folder import StudyFolder
from nightscan_edge.train import train
from nightscan_edge.tune import attrs
from nightscan_edge.tune.measure import Measurement, measure
from nightscan_edge.tune.pruning import EpochPruner, companion_study
from nightscan_edge.tune.resume import owner_tag
from nightscan_edge.tune.sampling import suggest

BENCH_FILE = "bench.json"


@dataclass(frozen=True)
class StudyPlan:
    """What every trial of a study shares; plain data, so Dask can ship it to worker processes."""

    name: str
    storage_url: str
    folder: Path
    base_layer: dict[str, Any]  # the resolved base config as a dict: data, epochs, export, bench settings
    space: SearchSpace
    budget: Budget
    formats: tuple[str, ...]
    prune_epochs: bool = True  # the per-epoch pruner
    progress: bool = False

    @property
    def runs_dir(self) -> Path:
        return StudyFolder(self.folder).runs_dir

    def trial_folder(self, number: int) -> Path:
        return self.runs_dir / f"{self.name}-trial-{number:04d}"


def _config(plan: StudyPlan, values: dict[str, Value], folder: Path) -> Any:
    layer = plan.space.config_layer(values)
    return resolve_config(plan.base_layer, layer, {"train": {"run_name": folder.name, "runs_dir": str(folder.parent)}})


def _resumable(study: optuna.Study, trial: optuna.Trial) -> Path | None:
    """The run folder of the interrupted trial this one continues, when it can still resume."""
    number = trial.user_attrs.get(attrs.RESUME_OF)
    if number is None:
        return None
    previous = study.trials[int(number)].user_attrs.get(attrs.RUN_DIR)
    folder = RunFolder(previous) if previous else None
    if folder is None or not folder.last_checkpoint.is_file() or folder.report_file.is_file():
        return None
    return folder.path


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (exporters may start some): one trial's cost, as
    trials run one after another in a process (one per Dask worker)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class TrialObjective:
    """The objective ``Study.optimize`` calls: one trial, start to end (see the module docstring)."""

    def __init__(self, plan: StudyPlan, study: optuna.Study, companion: optuna.Study) -> None:
        self.plan, self.study, self.companion = plan, study, companion

    def __call__(self, trial: optuna.Trial) -> tuple[float, float]:
        trial.set_user_attr(attrs.OWNER, owner_tag())
        started = _cpu_seconds()
        try:
            return self._trial(trial)
        finally:
            trial.set_user_attr(attrs.CPU_SECONDS, round(_cpu_seconds() - started, 1))

    def _trial(self, trial: optuna.Trial) -> tuple[float, float]:
        values = suggest(trial, self.plan.space)
        resumed = _resumable(self.study, trial)
        folder = RunFolder(resumed or self.plan.trial_folder(trial.number))
        trial.set_user_attr(attrs.RUN_DIR, str(folder.path))
        pruner = EpochPruner(
            self.companion, folder, exempt=bool(trial.user_attrs.get(attrs.PROBE)) or not self.plan.prune_epochs
        )
        try:
            measurement = self._run(trial, values, folder, resumed, pruner)
        except optuna.TrialPruned:
            pruner.finish()
            raise
        except (TrainingCancelled, KeyboardInterrupt) as stopped:
            # a KeyboardInterrupt is what Optuna lets through its ``catch``: the study stops, the trial is
            # recorded as failed and marked interrupted, and the next start resumes its run folder
            pruner.finish(failed=True)
            trial.set_user_attr(attrs.INTERRUPTED, True)
            raise KeyboardInterrupt(str(stopped)) from stopped
        except Exception as error:
            pruner.finish(failed=True)
            trial.set_user_attr(attrs.ERROR, f"{type(error).__name__}: {error}".splitlines()[0][:500])
            raise
        pruner.finish()
        return measurement.macro_f1, measurement.latency_p50_ms

    def _run(
        self,
        trial: optuna.Trial,
        values: dict[str, Value],
        folder: RunFolder,
        resumed: Path | None,
        pruner: EpochPruner,
    ) -> Measurement:
        run_dir, macro_f1 = train_candidate(self.plan, values, folder, resumed, [pruner])
        if pruner.pruned_at_epoch is not None:
            trial.set_user_attr(attrs.PRUNED_AT, pruner.pruned_at_epoch)
            raise optuna.TrialPruned(f"stopped after epoch {pruner.pruned_at_epoch}")
        measurement = export_and_measure(self.plan, values, folder, run_dir, macro_f1, trial.set_user_attr)
        trial.set_user_attr(attrs.CONSTRAINTS, measurement.constraints)
        return measurement


def train_candidate(
    plan: StudyPlan,
    values: dict[str, Value],
    folder: RunFolder,
    resumed: Path | None,
    callbacks: list[Any],
) -> tuple[Path, float | None]:
    """Train (or resume) one configuration into ``folder`` -> its run folder and validation macro-F1."""
    if resumed is not None:
        run = train(resume=resumed, progress=plan.progress, callbacks=callbacks)
    else:
        folder.path.parent.mkdir(parents=True, exist_ok=True)
        config = _config(plan, values, folder.path)
        run = train(config, run_dir=folder.path, progress=plan.progress, callbacks=callbacks)
    macro_f1 = run.metrics.get("val_macro_f1")
    return Path(run.run_dir), None if macro_f1 is None else float(macro_f1)


def export_and_measure(
    plan: StudyPlan,
    values: dict[str, Value],
    folder: RunFolder,
    run_dir: Path,
    macro_f1: float | None,
    record: Callable[[str, Any], None],
) -> Measurement:
    """Prune (when the configuration asks), export with the INT8 gate, bench at 1 thread and measure against the
    budget. ``record(key, value)`` keeps each step's folder as soon as it exists (a trial's user attributes, a
    confirmation's entry), so a failure later still says where the files are."""
    model_dir = run_dir
    ratio = float(values.get("pruning_ratio", plan.space.fixed.get("pruning_ratio", 0.0)))
    if ratio > 0:
        epochs = int(plan.base_layer["train"]["epochs"])
        pruned = prune_run(
            run_dir,
            target_macs=1.0 - ratio,
            finetune_epochs=max(1, epochs // 2),
            run_name=f"{folder.path.name}-pruned",
            progress=False,
        )
        model_dir, macro_f1 = pruned.run_dir, pruned.record.get("val_macro_f1")
    if macro_f1 is None or not math.isfinite(float(macro_f1)):
        raise RuntimeError(f"{model_dir} finished without a validation macro-F1")
    record(attrs.MODEL_DIR, str(model_dir))
    report = export_run(model_dir, list(plan.formats), int8=True)
    record(attrs.EXPORT_DIR, str(report.out_dir))
    config = RunFolder(model_dir).read_config()
    options = BenchOptions(config.bench, threads=(1,), include_eager=False)
    result = run_bench(report.out_dir, options, progress=False, run_dir=model_dir)
    write_text_atomic(Path(report.out_dir) / BENCH_FILE, result.to_json())
    measurement = measure(result, report, plan.budget, float(macro_f1))
    record(attrs.MEASUREMENT, measurement.as_dict())
    return measurement


def objective_for(plan: StudyPlan, study: optuna.Study, storage: optuna.storages.BaseStorage) -> TrialObjective:
    epochs = int(plan.base_layer["train"]["epochs"])
    return TrialObjective(plan, study, companion_study(plan.name, storage, plan.prune_epochs, epochs))
