"""The one typed configuration schema: data / model / train / export / bench.

Presets (the seed's per-modality defaults) + a YAML file + CLI ``section.key=value`` overrides resolve into
one frozen ``Config``. Unknown keys and invalid values are errors that name the key: a silently ignored
typo in a 30-epoch run is the worst kind of bug.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nightscan_edge.config_layers import (
    PRESETS,
    ConfigError,
    check_sections,
    deep_merge,
    format_validation_error,
    parse_override,
    read_yaml_file,
)
from nightscan_edge.objective import Objective
from nightscan_edge.spec import AudioSpec


class _Section(BaseModel):
    # allow_inf_nan=False: `train.lr=.inf` is refused here instead of training a run full of NaN weights
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=(), allow_inf_nan=False)


class AudioAugmentConfig(_Section):
    """Waveform and spectrogram augmentation for audio training (each switchable)."""

    time_shift: bool = True  # random window offset / circular shift
    gain_db: float = Field(6.0, ge=0, description="random gain in +-dB; 0 disables")
    noise_mix_probability: float = Field(0.0, ge=0, le=1, description="mix background noise with this probability")
    noise_dir: str | None = Field(None, description="folder of background recordings; none = white/pink noise")
    noise_snr_db: tuple[float, float] = (5.0, 30.0)
    overlay_probability: float = Field(
        0.0,
        ge=0,
        le=1,
        description="multilabel: add another window of the batch to a window with this probability and train on the "
        "union of their labels (mixtures the recordings lack, as OpenSoundscape's Overlay); 0 disables",
    )
    overlay_level_db: tuple[float, float] = Field(
        (-6.0, 0.0), description="the added window's RMS level against the window's own, drawn in this range (dB)"
    )
    spec_augment: bool = True
    freq_masks: int = Field(2, ge=0)
    freq_mask_width: int = Field(12, ge=0)
    time_masks: int = Field(2, ge=0)
    time_mask_width: int = Field(16, ge=0)

    @field_validator("noise_snr_db", "overlay_level_db")
    @classmethod
    def _range_in_order(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] > value[1]:
            low, high = value[1], value[0]
            raise ValueError(f"give the range low first: ({low:g}, {high:g}), not ({high:g}, {low:g})")
        return value


class PhotoAugmentConfig(_Section):
    """The seed's light photo augmentation (torchvision transforms v2)."""

    horizontal_flip_probability: float = Field(0.3, ge=0, le=1)
    rotation_degrees: float = Field(10.0, ge=0, le=180)
    crop_scale: float = Field(
        0.7, gt=0, le=1, description="random crop of this share of the area or more, resized back (1 disables)"
    )
    trivial_augment: bool = Field(
        False,
        description="TrivialAugmentWide (one random colour/geometry op per photo); for small sets, long schedules",
    )
    erasing_probability: float = Field(0.0, ge=0, le=1, description="RandomErasing of a patch with this probability")
    ir_probability: float = Field(
        0.0,
        ge=0,
        le=1,
        description="share of training photos turned into IR-like night frames (grey, low contrast, sensor noise, "
        "blur); the report adds accuracy on grey validation photos",
    )


class DataConfig(_Section):
    path: str | None = Field(
        None,
        description="class-per-folder tree, manifest CSV (path,label|labels[,split|fold][,group]) or annotation table "
        "(CSV path,start_s,end_s,label or a Raven selection table .txt)",
    )
    val_fraction: float = Field(0.2, gt=0, lt=1)
    test_fraction: float = Field(0.0, ge=0, lt=1)
    split_seed: int = 0
    cache: Literal["memory", "disk", "none"] = "memory"
    cache_dir: str | None = None
    max_bad_fraction: float = Field(0.1, ge=0, le=1, description="fail the run if more files than this are unreadable")
    duplicates: Literal["refuse", "keep-first"] = Field(
        "refuse", description="manifest rows naming one file twice: refuse the data set, or keep the first row"
    )
    class_weights: bool = True
    weighted_sampler: bool = False
    num_workers: int = Field(0, ge=0)
    augment: bool = True
    audio_augment: AudioAugmentConfig = AudioAugmentConfig()
    photo_augment: PhotoAugmentConfig = PhotoAugmentConfig()
    val_fold: str | None = Field(None, description="manifest fold held out for validation; default the last fold")
    background: str | None = Field(
        None, description="folder of ambient recordings (no target calls): adds a 'background' class never reported"
    )
    background_windows: int | None = Field(
        None, ge=2, description="random background windows to draw; default as many as the median class"
    )
    min_overlap: float = Field(
        0.5,
        gt=0,
        le=1,
        description="annotation tables: a window is positive for a label when one of its annotations covers this "
        "share of the shorter of the window and the call (docs/multilabel.md)",
    )

    @field_validator("val_fold", mode="before")
    @classmethod
    def _fold_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class ModelConfig(_Section):
    name: str = "ultralight_audio"
    options: dict[str, Any] = Field(default_factory=dict, description="builder options (widths, dropout, ...)")
    audio: AudioSpec = AudioSpec()
    image_size: int = Field(224, ge=16)
    channels: Literal[1, 3] = 3
    weights: str | None = Field(
        None,
        description="photo: 'imagenet', a local .pth file, or 'none' (random start); unset: the family's pretrained "
        "weights (efficientnet_lite0_photo: ImageNet, extra pretrained-photo), else none",
    )
    init_from: str | None = Field(None, description="run folder or weights file whose backbone starts this run")

    @field_validator("name")
    @classmethod
    def _known_model(cls, name: str) -> str:
        # deferred: the model registry sits above the config (models -> ... -> run_folder -> config); importing it
        # at the top would tie the ground floor into one loop with every layer
        from nightscan_edge.models import MODELS

        MODELS.get(name)  # raises with the list of known names
        return name


class TrainConfig(_Section):
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    scheduler: Literal["plateau", "step", "cosine", "none"] = "plateau"
    step_size: int = Field(10, ge=1, description="StepLR period in epochs")
    gamma: float = Field(0.1, gt=0, le=1, description="LR factor for StepLR / ReduceLROnPlateau")
    plateau_patience: int = Field(3, ge=0)
    early_stopping_patience: int | None = Field(8, ge=1, description="epochs without val improvement; null disables")
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    backbone_lr_scale: float = Field(
        1.0, gt=0, le=1, description="the backbone learns at lr x this, the new head at lr (fine-tuning: 0.1-0.3)"
    )
    freeze_backbone_epochs: int = Field(
        0, ge=0, description="first epochs that train only the head (backbone and its BatchNorm statistics frozen)"
    )
    warmup_epochs: float = Field(
        0.0, ge=0, description="linear LR warm-up over this many epochs, stepped per batch (scheduler cosine or none)"
    )
    batchnorm: Literal["train", "frozen"] = Field(
        "train", description="frozen: every BatchNorm keeps its pretrained running statistics (tiny batches)"
    )
    ema_decay: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="keep an exponential moving average of the weights, updated every optimizer step with this "
        "decay (0.99-0.999); validation, best.ckpt, the report and every export use the average; null: off",
    )
    seed: int = 42
    accelerator: str = "auto"
    devices: str = "auto"
    strategy: str = "auto"
    num_nodes: int = Field(
        1, ge=1, description="machines in a multi-node DDP run (SLURM, torchrun); see docs/throughput.md"
    )
    precision: Literal["32", "32-true", "bf16-mixed", "16-mixed"] = Field(
        "32",
        description="32 (float32), bf16-mixed (CPU with bf16, Ampere+ GPUs) or 16-mixed (CUDA only); see "
        "docs/throughput.md for the measured figures behind the default",
    )
    compile: bool = Field(False, description="torch.compile the model (opt-in: minutes of compile for a short run)")
    channels_last: bool | None = Field(
        None, description="photo models in channels-last layout; null: on (measured faster)"
    )
    runs_dir: str = "runs"
    run_name: str | None = None
    teacher: str | None = Field(
        None,
        description="run folder of a trained teacher for distillation, or 'birdnet': BirdNET V2.4's own species "
        "scores for a multi-label student whose labels are BirdNET species",
    )
    unlabeled: str | None = Field(
        None,
        description="folder of recordings (birdnet_head teacher) or photos (photo teacher) without labels: soft "
        "pseudo-labels from train.teacher",
    )
    teacher_views: int = Field(
        0,
        ge=0,
        description="photo teacher: 0 scores every augmented batch live; N scores N fixed augmented views of each "
        "photo once and trains on exactly those (an exact cache: far cheaper with a large teacher on a CPU)",
    )
    teacher_grid_seconds: float = Field(
        0.5,
        gt=0,
        le=3,
        description="BirdNET teachers (birdnet_head, embedding): embeddings cached every this many seconds of a clip",
    )
    embedding_teacher: Literal["birdnet"] | None = Field(
        None,
        description="before the labels, the audio student learns this embedding (birdnet: BirdNET V2.4's 1024-d) "
        "on the training clips, train.unlabeled and train.embedding_audio (feature distillation)",
    )
    embedding_epochs: int = Field(10, ge=1, description="epochs of embedding distillation before the labelled ones")
    embedding_audio: list[str] = Field(
        default_factory=list,
        description="more folders of recordings without labels (e.g. site ambience) for embedding distillation",
    )
    distill_temperature: float = Field(4.0, gt=0)
    distill_alpha: float = Field(0.7, ge=0, le=1, description="weight of the soft-target loss")
    limit_train_batches: float | int | None = None
    min_steps_per_epoch: int = Field(
        16,
        ge=0,
        description="small data sets pass over their examples more than once per epoch to make at least this "
        "many optimizer steps (0: one pass)",
    )
    objective: Objective = Field(
        "single_label",
        description="single_label: one label per window (softmax); multilabel: every class present (one sigmoid "
        "per class, per-class thresholds chosen on validation; see docs/multilabel.md)",
    )
    multilabel_loss: Literal["bce", "focal"] = Field(
        "bce", description="multilabel: binary cross-entropy with per-class positive weights, or focal loss"
    )
    threshold_rule: Literal["best_f1", "target_precision"] = Field(
        "best_f1",
        description="multilabel: each class's threshold maximises validation F1, or is the lowest reaching "
        "train.target_precision",
    )
    target_precision: float = Field(
        0.9, gt=0, lt=1, description="multilabel with threshold_rule=target_precision: the precision to reach"
    )

    @model_validator(mode="after")
    def _fine_tuning_fits_the_schedule(self) -> TrainConfig:
        if self.freeze_backbone_epochs >= self.epochs:
            raise ValueError(
                f"freeze_backbone_epochs ({self.freeze_backbone_epochs}) must be below epochs ({self.epochs}): "
                "the backbone would never train"
            )
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs ({self.warmup_epochs:g}) must be below epochs ({self.epochs})")
        if self.warmup_epochs and self.scheduler not in ("cosine", "none"):
            raise ValueError(
                f"warmup_epochs needs scheduler cosine or none (got {self.scheduler}): the warm-up and the decay "
                "are one per-batch schedule"
            )
        return self

    @model_validator(mode="after")
    def _multilabel_options_need_multilabel(self) -> TrainConfig:
        # A multi-label option on a single-label run would be silently ignored: refuse it instead.
        if self.objective == "single_label":
            stray = sorted(
                {"multilabel_loss", "threshold_rule", "target_precision"}
                & {
                    name
                    for name in self.model_fields_set
                    if getattr(self, name) != TrainConfig.model_fields[name].default
                }
            )
            if stray:
                raise ValueError(
                    f"{', '.join('train.' + name for name in stray)} only apply with train.objective=multilabel; "
                    "set train.objective=multilabel or drop them"
                )
        elif self.label_smoothing:
            raise ValueError(
                "train.label_smoothing smooths a softmax target; with train.objective=multilabel set it to 0"
            )
        if self.threshold_rule == "best_f1" and "target_precision" in self.model_fields_set:
            if self.target_precision != TrainConfig.model_fields["target_precision"].default:
                raise ValueError("train.target_precision needs train.threshold_rule=target_precision")
        return self


class ExportConfig(_Section):
    formats: list[str] = Field(default_factory=lambda: ["onnx"])
    int8: bool = False
    calibration_samples: int = Field(128, ge=1)
    parity_samples: int = Field(64, ge=1)
    max_accuracy_drop: float = Field(1.0, ge=0, description="INT8 gate: points of overall accuracy")
    max_class_recall_drop: float = Field(3.0, ge=0, description="INT8 gate: points of any class's recall")
    max_map_drop: float = Field(2.0, ge=0, description="INT8 gate of a multilabel model: points of mAP")
    max_class_ap_drop: float = Field(
        3.0, ge=0, description="INT8 gate of a multilabel model: points of any class's average precision"
    )
    int8_float_fallback: int = Field(
        4,
        ge=0,
        description="when INT8 fails the gate, retry keeping the 1, 2, ... up to this many layers most sensitive "
        "to quantization (ranked on training inputs) in float; 0: no retry (formats that can: onnx, tflite)",
    )
    calibrate_temperature: bool = True
    validation_samples: int = Field(
        400, ge=1, description="validation inputs for calibration, parity and the INT8 gate"
    )
    target_accuracy: float = Field(0.95, gt=0, le=1, description="edge accuracy the recommended threshold must reach")


class BenchConfig(_Section):
    threads: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: [1, 0], min_length=1, description="thread counts to time; 0 = all cores"
    )
    warmup: int = Field(10, ge=0)
    iterations: int = Field(50, ge=1)
    throughput_batch: int = Field(8, ge=1)


class Config(_Section):
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    export: ExportConfig = ExportConfig()
    bench: BenchConfig = BenchConfig()

    @model_validator(mode="after")
    def _overlay_needs_multilabel(self) -> Config:
        # A softmax target cannot hold the two labels of an overlaid window.
        if self.data.audio_augment.overlay_probability > 0 and self.train.objective != "multilabel":
            raise ValueError(
                "data.audio_augment.overlay_probability mixes two windows into one with both labels: it needs "
                "train.objective=multilabel (or set it to 0)"
            )
        return self

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def resolve_config(
    *layers: dict[str, Any], yaml_path: str | Path | None = None, overrides: list[str] | None = None
) -> Config:
    """Preset for the model's input kind <- YAML file <- ``layers`` dicts <- ``section.key=value`` strings."""
    merged: dict[str, Any] = {}
    if yaml_path is not None:
        loaded = read_yaml_file(yaml_path) or {}
        merged = deep_merge(merged, check_sections(loaded, f"config file {yaml_path}"))
    for layer in layers:
        merged = deep_merge(merged, check_sections(layer, "config"))
    for text in overrides or []:
        merged = deep_merge(merged, parse_override(text))
    model_name = (merged.get("model") or {}).get("name", ModelConfig.model_fields["name"].default)

    from nightscan_edge.models import MODELS  # deferred: the registry sits above the config (see _known_model)

    try:
        kind = MODELS.get(model_name).input_kind
    except KeyError as error:
        raise ConfigError(f"model.name: {error}") from None
    with_preset = deep_merge(PRESETS[kind], merged)
    try:
        return Config.model_validate(with_preset)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error)) from None


def load_config(path: str | Path) -> Config:
    """Load a resolved config saved in a run folder (already complete; no presets applied again)."""
    loaded = read_yaml_file(path, "run config")
    try:
        return Config.model_validate(check_sections(loaded, f"run config {path}"))
    except ValidationError as error:
        raise ConfigError(format_validation_error(error)) from None
