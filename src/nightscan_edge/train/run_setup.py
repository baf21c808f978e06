"""Opening a run folder: a new run (fresh folder, saved config with absolute paths) or a resumed one (its saved
config and run id, with only the device options taken from the caller)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nightscan_edge.config import Config
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.models.pretrained import names_a_file
from nightscan_edge.paths import display_path
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.train.birdnet_species import BIRDNET_TEACHER
from nightscan_edge.train.devices import RUN_DIR_ENV, launched_rank
from nightscan_edge.train.events import read_events
from nightscan_edge.train.resume import load_resume_checkpoint

# Options a resumed run may take from the caller: where it runs, not what it trains.
DEVICE_OPTIONS = ("devices", "accelerator", "strategy", "num_nodes")


@dataclass(frozen=True)
class OpenedRun:
    folder: RunFolder
    config: Config
    run_id: str
    resumed: bool
    checkpoint: dict[str, Any] | None = None  # the resume point, read (safely) before anything was written
    # A resumed run's device options that differ from its first start: option -> (saved, now)
    device_changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


# A run with one of these statuses (or a report.json) is finished: --resume refuses it and changes nothing.
FINISHED_STATUSES = ("done",)


def new_run_id(config: Config) -> str:
    return config.train.run_name or f"{config.model.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _absolute(path: str | None) -> str | None:
    return str(Path(path).expanduser().resolve()) if path else path


def with_absolute_paths(config: Config) -> Config:
    """Paths in the saved config must still work when the run is resumed from another directory."""
    data = config.model_dump()
    data["data"]["path"] = _absolute(config.data.path)
    data["data"]["cache_dir"] = _absolute(config.data.cache_dir)
    data["data"]["audio_augment"]["noise_dir"] = _absolute(config.data.audio_augment.noise_dir)
    teacher = config.train.teacher  # "birdnet" names BirdNET's own classifier, not a folder
    data["train"]["teacher"] = teacher if teacher == BIRDNET_TEACHER else _absolute(teacher)
    data["train"]["unlabeled"] = _absolute(config.train.unlabeled)
    data["train"]["embedding_audio"] = [_absolute(folder) for folder in config.train.embedding_audio]
    data["data"]["background"] = _absolute(config.data.background)
    data["model"]["init_from"] = _absolute(config.model.init_from)
    if names_a_file(config.model.weights):
        data["model"]["weights"] = _absolute(config.model.weights)
    return Config.model_validate(data)


def planned_folder(config: Config | None, run_dir: str | Path | None, resume: str | Path | None) -> RunFolder:
    """The folder a ``train`` call will write, checked without writing anything: a resume target must be an
    unfinished run with its resume point; a new run's folder must not hold a run already."""
    if resume is not None:
        folder = RunFolder(resume)
        check_resumable(folder)
        return folder
    if config is None:
        raise ConfigError("train() needs a config (or resume=RUN_DIR)")
    folder = RunFolder(_new_run_path(with_absolute_paths(config), run_dir)[0])
    _refuse_existing_run(folder)
    return folder


def check_resumable(folder: RunFolder) -> None:
    """Refuse a finished run (status done) or one without its resume point. A run killed after writing
    ``report.json`` but before its status said done is resumable: ``train`` then only records the end."""
    status = folder.read_status()
    if status.get("status") in FINISHED_STATUSES:
        best = status.get("best_val_acc")
        figure = f" (best val accuracy {best:.1%})" if isinstance(best, int | float) else ""
        raise ConfigError(
            f"run {display_path(folder.path)} is finished{figure}; nothing to resume -- export it, or start a new "
            "run with --init-from to train it further"
        )
    resume_point = folder.last_checkpoint.is_file() or folder.embedding_checkpoint.is_file()
    if not resume_point or not folder.config.is_file():
        raise ConfigError(
            f"cannot resume {display_path(folder.path)}: it has no {folder.LAST_CHECKPOINT} (nor "
            f"{folder.EMBEDDING_CHECKPOINT}) or no {folder.CONFIG}"
        )


def _refuse_existing_run(folder: RunFolder) -> None:
    if folder.holds_run():
        shown = display_path(folder.path)
        raise ConfigError(
            f"run folder {shown} already holds a run; continue it with --resume {shown} "
            "or choose another --run-dir/--run-name"
        )


def _new_run_path(config: Config, run_dir: str | Path | None) -> tuple[Path, str]:
    run_id = new_run_id(config)
    path = Path(run_dir) if run_dir is not None else Path(config.train.runs_dir) / run_id
    if config.train.run_name is None:
        run_id = path.name
    return path, run_id


def open_new_run(config: Config | None, run_dir: str | Path | None) -> OpenedRun:
    """Create the run folder and save the config; refuse a folder that already holds a run."""
    if config is None:
        raise ConfigError("train() needs a config (or resume=RUN_DIR)")
    config = with_absolute_paths(config)
    path, run_id = _new_run_path(config, run_dir)
    folder = RunFolder(path)
    _refuse_existing_run(folder)  # under the writer lock: a twin start that lost the race stops here
    path.mkdir(parents=True, exist_ok=True)
    folder.write_config(config)
    return OpenedRun(folder, config, run_id, resumed=False)


def join_run(config: Config | None, run_dir: str | Path | None) -> OpenedRun:
    """A rank > 0 of a multi-process run: rank 0's folder, handed down by Lightning's launcher in the environment,
    or named alike on every rank (``--run-dir``/``--run-name``, as torchrun and SLURM launches need)."""
    if config is None:
        raise ConfigError("train() needs a config (or resume=RUN_DIR)")
    config = with_absolute_paths(config)
    shared = os.environ.get(RUN_DIR_ENV)
    path = Path(run_dir) if run_dir is not None else Path(shared) if shared else None
    if path is None and config.train.run_name:
        path = Path(config.train.runs_dir) / config.train.run_name
    if path is None:
        raise ConfigError(
            "this process is not rank 0 of a multi-process run: give --run-dir or --run-name so every rank "
            "trains in the same run folder"
        )
    return OpenedRun(RunFolder(path), config, config.train.run_name or path.name, resumed=False)


def check_device_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """The device options given for a resume (``--devices``, ``--accelerator``, ``--strategy``,
    ``train.num_nodes``); anything else would change what the run trains, so it is refused."""
    options = dict(options or {})
    other = sorted(set(options) - set(DEVICE_OPTIONS))
    if other:
        raise ConfigError(
            f"a resumed run keeps its saved config; only {', '.join(DEVICE_OPTIONS)} may change on resume, "
            f"not {', '.join(other)}"
        )
    return options


def open_resumed_run(
    resume: str | Path, config: Config | None, device_options: dict[str, Any] | None = None
) -> OpenedRun:
    """The run folder's saved config, run id and resume checkpoint, on the devices the caller gives now.

    The hardware may differ from the run's first start (another machine, more GPUs, DDP), so the device options
    in ``device_options`` -- and, from the Python API, those of a ``config`` passed with ``resume`` -- replace
    the saved ones; every other option stays as saved. Everything is read before anything is written: a
    refused resume leaves the folder as it was."""
    folder = RunFolder(resume)
    check_resumable(folder)  # again under the writer lock: another writer may have finished it meanwhile
    # No last.ckpt yet: the run stopped during embedding distillation, which continues from embedding.ckpt.
    checkpoint = load_resume_checkpoint(folder.last_checkpoint) if folder.last_checkpoint.is_file() else None
    saved = folder.read_config()
    wanted = {k: getattr(config.train, k) for k in DEVICE_OPTIONS} if config is not None else {}
    wanted.update(check_device_options(device_options))
    changes = {
        k: (getattr(saved.train, k), wanted[k])
        for k in DEVICE_OPTIONS
        if k in wanted and str(getattr(saved.train, k)) != str(wanted[k])
    }
    if changes:
        train = {**saved.train.model_dump(), **{k: now for k, (_, now) in changes.items()}}
        saved = Config.model_validate({**saved.model_dump(), "train": train})
        changes = {k: (was, getattr(saved.train, k)) for k, (was, _) in changes.items()}
    run_id = next(
        (e["run_id"] for e in read_events(folder.events) if e["type"] == "run_start"),
        folder.path.name,
    )
    return OpenedRun(folder, saved, run_id, resumed=True, checkpoint=checkpoint, device_changes=changes)


def _is_secondary_rank() -> bool:
    """DDP's extra ranks re-run this command; only rank zero writes the folder and holds its lock."""
    return launched_rank() > 0


@contextmanager
def writer_lock(folder: RunFolder) -> Iterator[None]:
    """``RunFolder.lock`` for the life of the run (rank zero only): a second writer is refused naming our PID."""
    if _is_secondary_rank():
        yield
        return
    with folder.lock():
        yield
