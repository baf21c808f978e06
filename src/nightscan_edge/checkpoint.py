"""Self-describing checkpoints: weights + model name/options + labels + preprocessing spec + config.

Lightning writes ``best.ckpt``/``last.ckpt``; the training module adds one ``"nightscan"`` entry (nanoGPT's
``model_args`` idea) so that anything downstream -- export, predict, bench, the web app -- rebuilds the
exact model from the file alone, without the training code's state.

Run folder layout (one run = one folder, shared by CLI, API and web):
    config.yaml  split.csv  metrics.csv  events.jsonl  best.ckpt  last.ckpt  labels.txt
    report.json (per-class precision/recall/F1, macro-F1)  curves.png  confusion_matrix.png
    exports/<export_id>/ (artifacts, manifest.json, bundle.zip)
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nightscan_edge import __version__
from nightscan_edge.atomic import write_bytes_atomic
from nightscan_edge.errors import CheckpointError, NightScanError
from nightscan_edge.models import MODELS, EdgeClassifier, create_model
from nightscan_edge.objective import MULTILABEL, SINGLE_LABEL, Objective, check_thresholds
from nightscan_edge.run_folder import CHECKPOINT_KEY, RunFolder
from nightscan_edge.safe_load import load_torch_file
from nightscan_edge.spec import AudioSpec, ImageSpec, InputSpec

MODEL_PREFIX = "model."
BEST_CHECKPOINT = RunFolder.BEST_CHECKPOINT
LAST_CHECKPOINT = RunFolder.LAST_CHECKPOINT


class CheckpointMeta(BaseModel):
    """What ``checkpoint['nightscan']`` holds: one typed contract, written by ``checkpoint_metadata`` and read by
    ``load_trained_model``. Keys added later have defaults so older checkpoints still load; unknown keys (a
    newer package's) are kept."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    model_name: str
    model_options: dict[str, Any] = Field(default_factory=dict)
    num_classes: int = Field(gt=0)
    labels: list[str]
    spec: InputSpec
    config: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = None
    temperature: float | None = None
    licence: str | None = None  # terms of pretrained weights the model carries (BirdNET: CC BY-NC-SA 4.0)
    package_version: str | None = None
    # Multi-label (docs/multilabel.md): older checkpoints have neither key and are single-label.
    objective: Objective = SINGLE_LABEL
    thresholds: dict[str, float] | None = None  # per label, chosen on validation; multilabel only

    @model_validator(mode="after")
    def _thresholds_fit_the_labels(self) -> CheckpointMeta:
        if self.thresholds is not None:
            if self.objective != MULTILABEL:
                raise ValueError("per-class thresholds belong to a multilabel checkpoint; this one is single_label")
            self.thresholds = check_thresholds(self.thresholds, self.labels)
        return self


def checkpoint_metadata(
    model: EdgeClassifier,
    labels: list[str],
    config: dict[str, Any],
    run_id: str,
    model_options: dict[str, Any] | None = None,
    temperature: float | None = None,
    licence: str | None = None,
    objective: Objective = SINGLE_LABEL,
    thresholds: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The dict stored under ``checkpoint['nightscan']`` (plain values: ``torch.load(weights_only=True)`` reads it).

    ``objective`` / ``thresholds``: a multi-label model's per-class thresholds (docs/multilabel.md); a Lightning
    checkpoint written mid-training has none yet, ``write_checkpoint_thresholds`` adds them after validation.

    ``licence``: terms inherited from pretrained weights (a teacher's, for a distilled student); by default the
    model family's own (``ModelEntry.licence``), None for the project's Apache-2.0 models.
    """
    if len(labels) != model.num_classes:
        raise ValueError(f"{len(labels)} labels for a model with {model.num_classes} outputs")
    if licence is None and model.model_name in MODELS:
        licence = MODELS.get(model.model_name).licence
    meta = CheckpointMeta(
        model_name=model.model_name,
        model_options=dict(model_options or {}),
        num_classes=model.num_classes,
        labels=list(labels),
        spec=model.spec,
        config=config,
        run_id=run_id,
        temperature=temperature,
        licence=licence,
        package_version=__version__,
        objective=objective,
        thresholds=thresholds,
    )
    data = meta.model_dump(mode="json")
    data["config"] = config  # as the caller resolved it, not re-serialised
    return data


@dataclass
class TrainedModel:
    """A model rebuilt from a checkpoint, in eval mode, with everything needed to preprocess for it."""

    model: EdgeClassifier
    model_name: str
    labels: list[str]
    spec: AudioSpec | ImageSpec
    config: dict[str, Any]
    run_id: str
    checkpoint_path: Path
    temperature: float | None = None
    licence: str | None = None  # terms of pretrained weights it carries (BirdNET's CC BY-NC-SA 4.0), else None
    objective: Objective = SINGLE_LABEL
    thresholds: dict[str, float] | None = None  # per label in label order (multilabel), else None

    @property
    def run_dir(self) -> Path:
        return self.checkpoint_path.parent

    @property
    def multilabel(self) -> bool:
        return self.objective == MULTILABEL


def _raw_metadata(checkpoint: Any, path: Path) -> dict[str, Any]:
    raw = checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path} has no '{CHECKPOINT_KEY}' metadata: not a NightScan Edge checkpoint")
    return raw


def resolve_checkpoint(path: str | Path, prefer: str = BEST_CHECKPOINT) -> Path:
    """A run folder -> its best (or last) checkpoint; a .ckpt/.pt file -> itself."""
    path = Path(path)
    if path.is_dir():
        return RunFolder(path).checkpoint(prefer)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist; give a run folder or a .ckpt file")
    return path


def load_trained_model(path: str | Path, prefer: str = BEST_CHECKPOINT) -> TrainedModel:
    """Rebuild the trained model from a run folder or checkpoint file (``weights_only``: no pickled code runs)."""
    checkpoint_path = resolve_checkpoint(path, prefer)
    checkpoint = load_torch_file(checkpoint_path)
    raw = _raw_metadata(checkpoint, checkpoint_path)
    try:
        meta = CheckpointMeta.model_validate(raw)
        model = create_model(meta.model_name, meta.num_classes, spec=meta.spec, **meta.model_options)
        state = checkpoint["state_dict"]
        weights = {k[len(MODEL_PREFIX) :]: v for k, v in state.items() if k.startswith(MODEL_PREFIX)}
        model.load_state_dict(weights)
    except NightScanError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, ValidationError) as error:
        detail = " ".join(str(error).split())[:200]
        raise CheckpointError(
            f"{checkpoint_path} is a damaged NightScan Edge checkpoint ({type(error).__name__}: {detail})"
        ) from None
    if len(meta.labels) != model.num_classes:
        raise CheckpointError(
            f"{checkpoint_path} lists {len(meta.labels)} labels for a model with "
            f"{model.num_classes} outputs; the checkpoint was edited or damaged"
        )
    model.eval()
    return TrainedModel(
        model=model,
        model_name=meta.model_name,
        labels=list(meta.labels),
        spec=meta.spec,
        config=meta.config,
        run_id=meta.run_id if meta.run_id is not None else checkpoint_path.parent.name,
        checkpoint_path=checkpoint_path,
        temperature=meta.temperature,
        licence=meta.licence,
        objective=meta.objective,
        thresholds=dict(meta.thresholds) if meta.thresholds is not None else None,
    )


def save_standalone_checkpoint(
    path: str | Path,
    model: EdgeClassifier,
    labels: list[str],
    config: dict[str, Any] | None = None,
    run_id: str = "standalone",
    model_options: dict[str, Any] | None = None,
    objective: Objective = SINGLE_LABEL,
    thresholds: dict[str, float] | None = None,
) -> Path:
    """Write a checkpoint in the same layout Lightning uses (tests, distillation outputs, pruned models)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = checkpoint_metadata(
        model, labels, config or {}, run_id, model_options, objective=objective, thresholds=thresholds
    )
    torch.save(
        {"state_dict": {MODEL_PREFIX + k: v for k, v in model.state_dict().items()}, CHECKPOINT_KEY: metadata}, path
    )
    return path


def read_checkpoint_meta(path: str | Path) -> CheckpointMeta:
    """The typed metadata of a checkpoint file, without building the model (``CheckpointError`` when damaged)."""
    path = Path(path)
    raw = _raw_metadata(load_torch_file(path), path)
    try:
        return CheckpointMeta.model_validate(raw)
    except ValidationError as error:
        detail = "; ".join(str(e["msg"]) for e in error.errors()[:2])
        raise CheckpointError(f"{path} is a damaged NightScan Edge checkpoint ({detail})") from None


def write_checkpoint_thresholds(path: str | Path, thresholds: dict[str, float]) -> None:
    """Store a multi-label model's per-class thresholds (chosen on validation) in its checkpoint, atomically.

    Training chooses them after the last epoch, so Lightning's own save has none; this rewrites the file with
    the same weights and the thresholds added (checked against the labels: one per class, in [0, 1]).
    """
    path = Path(path)
    checkpoint = load_torch_file(path)
    meta = read_checkpoint_meta(path)
    if meta.objective != MULTILABEL:
        raise CheckpointError(f"{path} is a single_label checkpoint; per-class thresholds belong to multilabel ones")
    try:
        checked = check_thresholds(thresholds, meta.labels)
    except ValueError as error:
        raise CheckpointError(f"{path}: {error}") from None
    checkpoint[CHECKPOINT_KEY] = {**checkpoint[CHECKPOINT_KEY], "thresholds": checked}
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    write_bytes_atomic(path, buffer.getvalue())
