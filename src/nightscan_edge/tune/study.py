"""``run_study``: the whole tune, top to bottom.

Check everything that can be checked before a trial runs (family, space, budget, formats, storage, study name);
open or resume the study; measure the smallest configuration first and stop in one line when it is already over
the budget's size, latency or memory limits; then run the remaining trials (here, or on Dask workers) and write
the Pareto table, its plot and the winner into the study folder.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from nightscan_edge.artifact import validate_formats
from nightscan_edge.bench import Budget, BudgetError, load_budget
from nightscan_edge.bench.budget import gated_formats
from nightscan_edge.config import resolve_config
from nightscan_edge.config_layers import read_yaml_file
from nightscan_edge.models.search_space import SearchSpace, SearchSpaceError, search_space
from nightscan_edge.quiet import quiet_libraries
from nightscan_edge.tune import attrs
from nightscan_edge.tune.confirm import Confirmation, confirm_candidates
from nightscan_edge.tune.errors import TuneError, UnreachableBudgetError
from nightscan_edge.tune.measure import SIZE_AND_SPEED_LIMITS
from nightscan_edge.tune.results import TrialRow, table, write_results
from nightscan_edge.tune.resume import fail_orphaned, requeue_interrupted, trials_counted
from nightscan_edge.tune.sampling import make_sampler, smallest_params
from nightscan_edge.tune.storage import default_storage_url, open_storage, open_study
from nightscan_edge.tune.trial import StudyPlan, objective_for
from nightscan_edge.tune.workers import run_on_workers

DEFAULT_TRIALS = 20
DEFAULT_FORMATS = ("tflite",)  # the runtime the phone targets are stated in (LiteRT)
STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
STUDIES_DIR = Path("studies")


@dataclass(frozen=True)
class TuneOptions:
    data: Path
    model: str
    budget: Path
    trials: int | None = None  # with neither trials nor hours: DEFAULT_TRIALS
    hours: float | None = None
    teacher: Path | None = None
    storage: str | None = None
    study: str | None = None
    workers: int = 1
    out: Path | None = None
    space: Path | None = None  # YAML narrowing the family's space
    epochs: int = 3
    overrides: tuple[str, ...] = ()  # `--set section.key=value` for every trial's config
    formats: tuple[str, ...] | None = None  # default: the budget's gated formats, else tflite
    epoch_pruner: bool = True
    seed: int | None = 0
    progress: bool = False
    confirm: int = 0  # re-train the N most accurate trials within the budget on more seeds (tune.confirm)
    confirm_seeds: int = 2


@dataclass
class TuneResult:
    folder: Path
    study: str
    storage: str
    rows: list[TrialRow] = field(default_factory=list)
    winner: TrialRow | None = None
    confirmations: list[Confirmation] = field(default_factory=list)
    winner_confirmation: dict[str, Any] | None = None  # as pareto.json's: set when the winner held on every seed


def _check_counts(options: TuneOptions) -> None:
    if options.trials is not None and options.trials < 1:
        raise TuneError(f"--trials must be 1 or more; got {options.trials}")
    if options.hours is not None and not options.hours > 0:
        raise TuneError(f"--hours must be positive; got {options.hours}")
    if options.workers < 1:
        raise TuneError(f"--workers must be 1 or more; got {options.workers}")
    if options.confirm < 0:
        raise TuneError(f"--confirm must be 0 (off) or more; got {options.confirm}")
    if options.confirm and options.confirm_seeds < 1:
        raise TuneError(f"--confirm-seeds must be 1 or more; got {options.confirm_seeds}")
    if options.epochs < 1:
        raise TuneError(f"--epochs must be 1 or more; got {options.epochs}")


def resolve_space(model: str, space_file: Path | None, teacher: bool) -> SearchSpace:
    """The family's declared space, without the teacher keys when there is no teacher, narrowed by the file."""
    declared = search_space(model)
    space = declared if teacher else declared.without_teacher()
    if space_file is None:
        return space
    wanted = read_yaml_file(space_file, "search space file") or {}
    if not isinstance(wanted, dict):
        raise SearchSpaceError(f"search space file {space_file} must be a mapping of key: range, choices or value")
    needs_teacher = sorted(set(wanted) & declared.teacher_keys) if not teacher else []
    if needs_teacher:
        raise SearchSpaceError(f"search space key(s) {', '.join(needs_teacher)} need --teacher RUN (distillation)")
    return space.narrowed(wanted)


def _budget(options: TuneOptions) -> Budget:
    try:
        budget = load_budget(options.budget)
    except BudgetError as error:
        raise TuneError(str(error)) from None
    if budget.model is not None and budget.model != options.model:
        raise TuneError(f"budget {options.budget} is for model {budget.model}, not {options.model}; pass --model "
                        f"{budget.model} or a budget without 'model:'")  # fmt: skip
    return budget


def _base_layer(options: TuneOptions) -> dict[str, Any]:
    if not Path(options.data).exists():
        raise TuneError(f"--data {options.data} not found; give a class-per-folder tree or a manifest CSV")
    train: dict[str, Any] = {"epochs": options.epochs}
    if options.teacher is not None:
        train["teacher"] = str(Path(options.teacher).resolve())
    config = resolve_config(
        {"data": {"path": str(Path(options.data).resolve())}, "model": {"name": options.model}, "train": train},
        overrides=list(options.overrides),
    )
    return config.model_dump(mode="json")


def plan_study(options: TuneOptions) -> tuple[StudyPlan, dict[str, Any]]:
    """Every check that needs no trial, in the order a user would fix them; nothing is written."""
    _check_counts(options)
    name = options.study or f"{options.model}-{Path(options.budget).stem}"
    if not STUDY_NAME.match(name):
        raise TuneError(f"--study {name!r}: use letters, digits, '.', '_' and '-' (it names folders)")
    space = resolve_space(options.model, options.space, options.teacher is not None)
    budget = _budget(options)
    formats = tuple(options.formats or gated_formats(budget) or DEFAULT_FORMATS)
    validate_formats(list(formats))
    base_layer = _base_layer(options)
    folder = (options.out or STUDIES_DIR / name).resolve()
    plan = StudyPlan(
        name=name,
        storage_url=options.storage or default_storage_url(folder),
        folder=folder,
        base_layer=base_layer,
        space=space,
        budget=budget,
        formats=formats,
        prune_epochs=options.epoch_pruner,
        progress=options.progress,
    )
    search = {
        "model": options.model,
        "space": space.describe(),
        "budget": budget.model_dump(mode="json"),
        "formats": list(formats),
        "data": base_layer["data"]["path"],
    }
    return plan, search


def run_trials(
    plan: StudyPlan,
    trials: int | None,
    timeout_s: float | None,
    on_trial: Callable[[str], None],
    seed: int | None = None,
) -> int:
    """Run up to ``trials`` trials (None: until ``timeout_s``) of the plan's study in this process, the sampler
    seeded with ``seed`` (None: at random)."""
    storage = open_storage(plan.storage_url)
    study = optuna.load_study(study_name=plan.name, storage=storage, sampler=make_sampler(seed, STARTUP_TRIALS))
    objective = objective_for(plan, study, storage)

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        write_results(study, plan.folder)
        on_trial(_trial_line(trial))

    before = len(study.get_trials(deepcopy=False))
    study.optimize(objective, n_trials=trials, timeout=timeout_s, catch=(Exception,), callbacks=[after_trial])
    return len(study.get_trials(deepcopy=False)) - before


def worker_task(plan: StudyPlan, trials: int | None, timeout_s: float | None) -> int:
    """What each Dask worker runs (a module-level function, so it travels by name). Its sampler is seeded at random:
    workers given one seed would propose the same configuration for the same history."""
    quiet_libraries(None, "tune")  # a worker process starts without the CLI's filters
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return run_trials(plan, trials, timeout_s, lambda line: None)


STARTUP_TRIALS = 4  # random trials before TPE models the front (the smallest configuration is one of them)


def _trial_line(trial: optuna.trial.FrozenTrial) -> str:
    measured = trial.user_attrs.get(attrs.MEASUREMENT)
    if trial.state == optuna.trial.TrialState.COMPLETE and measured:
        within = "within budget" if not measured["violations"] else f"{len(measured['violations'])} violation(s)"
        return (f"trial {trial.number}: macro-F1 {measured['macro_f1']:.3f}, {measured['latency_p50_ms']:.2f} ms, "
                f"{measured['size_mb']:.3f} MB, INT8 {measured['int8_gate']}, {within}")  # fmt: skip
    if trial.state == optuna.trial.TrialState.PRUNED:
        return f"trial {trial.number}: pruned after epoch {trial.user_attrs.get(attrs.PRUNED_AT)}"
    return f"trial {trial.number}: {trial.state.name.lower()} {trial.user_attrs.get(attrs.ERROR) or ''}".rstrip()


def _probe(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The latest trial of the smallest configuration (an interrupted probe's requeued copy comes after it)."""
    probes = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(attrs.PROBE)]
    return probes[-1] if probes else None


def _check_reachable(plan: StudyPlan, study: optuna.Study, budget_path: Path) -> None:
    """Stop when the smallest configuration already breaks a size, latency or memory limit."""
    probes = [
        t for t in study.get_trials(deepcopy=False)
        if t.user_attrs.get(attrs.PROBE) and t.state == optuna.trial.TrialState.COMPLETE
    ]  # fmt: skip
    if not probes:
        return
    measured = probes[-1].user_attrs[attrs.MEASUREMENT]
    excess = dict(zip(SIZE_AND_SPEED_LIMITS, measured["constraints"], strict=False))
    broken = [name for name, value in excess.items() if value > 0]
    if broken:
        limits = ", ".join(f"{name} {getattr(plan.budget, name):g}" for name in broken)
        raise UnreachableBudgetError(
            f"budget {budget_path} is out of reach for {plan.space.family}: its smallest configuration (trial "
            f"{probes[-1].number}) measured {measured['size_mb']:.3f} MB and {measured['latency_p50_ms']:.2f} ms p50 "
            f"at 1 thread (peak memory {measured['peak_memory_mb'] or 0:.0f} MB), over {limits}; raise those limits "
            "or tune a smaller family"
        )


def run_study(options: TuneOptions, say: Callable[[str], None] = print) -> TuneResult:
    """Run (or resume) the study ``options`` describe; see the module docstring."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plan, search = plan_study(options)
    if options.storage is None:
        plan.folder.mkdir(parents=True, exist_ok=True)  # the default SQLite file lives in it
    storage = open_storage(plan.storage_url)
    study = open_study(plan.name, storage, search, make_sampler(options.seed, STARTUP_TRIALS))
    plan.folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # "experimental" since Optuna 2.9, and what its own optimize calls
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # the heartbeat (SQL storages): trials of machines gone silent
    fail_orphaned(study, storage)
    queued = requeue_interrupted(study)
    if queued:
        say(f"resuming {queued} interrupted trial(s) from their run folders")
    started = time.monotonic()
    total = options.trials if options.trials is not None else (None if options.hours else DEFAULT_TRIALS)
    timeout_s = options.hours * 3600 if options.hours else None
    if _probe(study) is None:
        study.enqueue_trial(smallest_params(plan.space), user_attrs={attrs.PROBE: True})
    probe = _probe(study)
    if probe is not None and probe.state == optuna.trial.TrialState.WAITING:
        say("measuring the smallest configuration first")
        run_trials(plan, 1, None, say, seed=options.seed)
    _check_reachable(plan, study, options.budget)
    remaining = None if total is None else max(0, total - trials_counted(study))
    if timeout_s is not None:
        # Optuna checks its timeout before each trial, never during one: the time the smallest configuration's
        # trial took counts, and a limit it spent starts no other trial
        timeout_s -= time.monotonic() - started
        if timeout_s <= 0:
            say(f"time limit of {options.hours:g} h reached; the same command continues the study")
            remaining = 0
    if remaining != 0:
        if options.workers > 1:
            say(f"{remaining if remaining is not None else 'timed'} trial(s) on {options.workers} Dask workers")
            run_on_workers(plan, worker_task, options.workers, remaining, timeout_s)
        else:
            run_trials(plan, remaining, timeout_s, say, seed=options.seed)
    confirmations: list[Confirmation] = []
    if options.confirm:  # each trial already wrote the table; the confirmation adds to it once it is done
        confirmations = confirm_candidates(plan, table(study), options.confirm, options.confirm_seeds, say)
    written = write_results(study, plan.folder, [c.as_dict() for c in confirmations] or None)
    return TuneResult(
        plan.folder,
        plan.name,
        plan.storage_url,
        written.rows,
        written.winner,
        confirmations,
        written.winner_confirmation,
    )
