"""Opening a run folder: a new run (fresh folder, saved config with absolute paths) or a resumed one (its saved
config and run id, with only the device options taken from the caller)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from nightscan_edge.config import Config, ConfigError
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.train.events import read_events

# Options a resumed run may take from the caller: where it runs, not what it trains.
DEVICE_OPTIONS = ("devices", "accelerator", "strategy")


@dataclass(frozen=True)
class OpenedRun:
    folder: RunFolder
    config: Config
    run_id: str
    resumed: bool


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
    data["train"]["teacher"] = _absolute(config.train.teacher)
    data["train"]["unlabeled"] = _absolute(config.train.unlabeled)
    data["data"]["background"] = _absolute(config.data.background)
    data["model"]["init_from"] = _absolute(config.model.init_from)
    if config.model.weights not in (None, "imagenet"):
        data["model"]["weights"] = _absolute(config.model.weights)
    return Config.model_validate(data)


def open_new_run(config: Config | None, run_dir: str | Path | None) -> OpenedRun:
    """Create the run folder and save the config; refuse a folder that already holds a run."""
    if config is None:
        raise ConfigError("train() needs a config (or resume=RUN_DIR)")
    config = with_absolute_paths(config)
    run_id = new_run_id(config)
    path = Path(run_dir) if run_dir is not None else Path(config.train.runs_dir) / run_id
    if config.train.run_name is None:
        run_id = path.name
    folder = RunFolder(path)
    if folder.holds_run():
        raise ConfigError(
            f"run folder {path} already holds a run; continue it with --resume {path} "
            "or choose another --run-dir/--run-name"
        )
    path.mkdir(parents=True, exist_ok=True)
    folder.write_config(config)
    return OpenedRun(folder, config, run_id, resumed=False)


def open_resumed_run(resume: str | Path, config: Config | None) -> OpenedRun:
    """The run folder's saved config and run id; ``config`` only contributes the device options."""
    folder = RunFolder(resume)
    if not folder.last_checkpoint.is_file() or not folder.config.is_file():
        raise ConfigError(f"cannot resume {folder.path}: it has no {folder.LAST_CHECKPOINT} or {folder.CONFIG}")
    saved = folder.read_config()
    if config is not None and config.train.devices != saved.train.devices:
        train = {**saved.train.model_dump(), **{k: getattr(config.train, k) for k in DEVICE_OPTIONS}}
        saved = Config.model_validate({**saved.model_dump(), "train": train})
    run_id = next(
        (e["run_id"] for e in read_events(folder.events) if e["type"] == "run_start"),
        folder.path.name,
    )
    return OpenedRun(folder, saved, run_id, resumed=True)
