"""Confinement of the server paths a run request names (caches, background noise, models to start from).

A path in a requested config is data from the request, so each such field may point only inside the
folders this module lists for it; ``nightscan_edge.paths`` does the checking.
"""

from __future__ import annotations

from pathlib import Path

from nightscan_edge.config import Config
from nightscan_edge.models.pretrained import names_a_file
from nightscan_edge.paths import PathPolicyError, confine
from nightscan_edge.web.forms import RunConfigError, _leaf_values

# Config fields that name a server path; a request may point them only inside the folders listed by
# ``request_path_roots`` (see ``nightscan_edge.paths``).
REQUEST_PATH_FIELDS = (
    "data.cache_dir",
    "data.audio_augment.noise_dir",
    "model.init_from",
    "model.weights",
    "train.teacher",
)


def request_path_roots(field: str, data_dir: Path, runs_dir: Path, dataset_roots: tuple[Path, ...]) -> tuple[Path, ...]:
    """Where each path field may point: caches are written under the data dir only; models (init-from, teacher,
    weights) are read from runs or dataset roots; background noise from dataset roots."""
    if field == "data.cache_dir":
        return (data_dir,)
    if field == "data.audio_augment.noise_dir":
        return dataset_roots
    return (runs_dir, *dataset_roots)


def confine_request_paths(config: Config, data_dir: Path, runs_dir: Path, dataset_roots: tuple[Path, ...]) -> None:
    """Refuse (``RunConfigError``, keyed by field) any path field of a requested config outside its roots."""
    flat = _leaf_values(config.model_dump(mode="json"))
    errors: dict[str, str] = {}
    for field in REQUEST_PATH_FIELDS:
        value = flat.get(field)
        if value is None or (field == "model.weights" and not names_a_file(str(value))):
            continue
        try:
            confine(str(value), request_path_roots(field, data_dir, runs_dir, dataset_roots), field)
        except PathPolicyError as error:
            errors[field] = str(error)
    if errors:
        raise RunConfigError("; ".join(errors.values()), errors)
