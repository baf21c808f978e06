"""Knowledge distillation from a trained teacher run (Hinton et al. 2015).

``loss = alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * CE``. The teacher runs in
eval mode without gradients on the same batch. It is held outside the student's module tree, so its weights
never enter the student's checkpoint; the licence its weights carry (BirdNET's, ImageNet weights') does.

A photo teacher sees exactly the student's augmented photos, converted to its own preprocessing (its size, its
mean/std, a grey photo repeated to three channels for a colour teacher): see ``train.photo_teacher``. Its labels
are matched to the student's by name, so a teacher trained on more classes can teach a subset of them.

A multi-label student (``train.objective=multilabel``) learns from a multi-label teacher's sigmoid scores, class by
class (``losses.soft_loss``); teacher and student must share the objective: a softmax teacher's probabilities share
one unit across the classes and cannot say that two species call at once, and per-class sigmoid scores are not the
one distribution a softmax student learns.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import torch

from nightscan_edge.checkpoint import TrainedModel, load_trained_model
from nightscan_edge.config import Config
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.data.photo_augment import renormalise
from nightscan_edge.models import EdgeClassifier
from nightscan_edge.spec import AudioSpec, ImageSpec
from nightscan_edge.train.birdnet_species import BIRDNET_TEACHER, SOURCE, species_head
from nightscan_edge.train.birdnet_teacher import BirdNetTeacher, TeacherHead, label_columns
from nightscan_edge.train.losses import blend_with_teacher


class Teacher:
    """A trained run's model scoring the student's batches; ``columns``: the teacher's output column of each
    student label (None: the same labels in the same order)."""

    def __init__(
        self,
        model: EdgeClassifier,
        student_spec: AudioSpec | ImageSpec,
        temperature: float,
        alpha: float,
        columns: list[int] | None = None,
        multilabel: bool = False,
    ) -> None:
        self.model = model.eval()
        self.multilabel = multilabel
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        # A photo teacher scores in channels-last layout (the same numbers in another memory order): EfficientNet-
        # Lite0 at 160 px scores about 1.4x faster so on one CPU thread, and scoring is what a photo teacher costs.
        self.channels_last = isinstance(model.spec, ImageSpec)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.same_input = model.spec == student_spec
        self.spec = model.spec
        self.student_spec = student_spec
        self.temperature = temperature
        self.alpha = alpha
        self.columns = columns
        self.licence: str | None = None  # set from the teacher's checkpoint; a student inherits it

    def to(self, device: torch.device) -> Teacher:
        self.model.to(device)
        return self

    @torch.no_grad()
    def logits(self, raw: torch.Tensor, student_input: torch.Tensor) -> torch.Tensor:
        """Teacher logits (student label order) for a batch: the student's model input when the specs agree, else
        the teacher's own preprocessing of the same batch (its LogMel on the waveform; for photos the same
        pixels at its size and normalisation)."""
        self.model.eval()
        logits: torch.Tensor
        if self.same_input:
            logits = self.model(self.layout(student_input))
        elif isinstance(self.spec, AudioSpec):
            logits = self.model.forward_waveform(raw)
        else:
            assert isinstance(self.student_spec, ImageSpec)
            logits = self.model(self.layout(renormalise(raw, self.student_spec, self.spec)))
        return logits if self.columns is None else logits[:, self.columns]

    def layout(self, batch: torch.Tensor) -> torch.Tensor:
        """A batch in the teacher's memory layout (channels-last for photo teachers)."""
        return batch.contiguous(memory_format=torch.channels_last) if self.channels_last else batch

    def distillation_loss(
        self,
        student_logits: torch.Tensor,
        raw: torch.Tensor,
        student_input: torch.Tensor,
        hard_loss: torch.Tensor,
        positions: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """``positions`` (clip index, window offset) serve teachers with cached scores; this one runs live."""
        teacher_logits = self.logits(raw, student_input)
        return blend_with_teacher(
            student_logits, teacher_logits, hard_loss, self.temperature, self.alpha, self.multilabel
        )


def check_objectives(trained: TrainedModel, student_multilabel: bool, source: str) -> None:
    """A teacher teaches only a student of its own objective (see the module docstring): one line otherwise."""
    if trained.multilabel == student_multilabel:
        return
    if student_multilabel:
        raise ConfigError(
            f"teacher {source} is single-label (softmax): its probabilities share one unit across the classes and "
            "cannot say that two species call at once; distill a multi-label student from a multi-label teacher "
            "(train the teacher with --set train.objective=multilabel)"
        )
    raise ConfigError(
        f"teacher {source} is multi-label (a sigmoid score per class, not one distribution); a single-label student "
        "cannot learn from it: train the student with --set train.objective=multilabel, or use a single-label teacher"
    )


def teacher_for(config: Config, labels: list[str], spec: AudioSpec | ImageSpec) -> Teacher | BirdNetTeacher:
    """The teacher a run's config names (``train.teacher``), with that config's distillation settings: what
    training loads, and what a measurement replaying its draws must load too."""
    if not config.train.teacher:
        raise ConfigError("the config names no teacher (train.teacher)")
    return load_teacher(
        config.train.teacher,
        labels,
        spec,
        config.train.distill_temperature,
        config.train.distill_alpha,
        cache_dir=config.data.cache_dir,
        grid_seconds=config.train.teacher_grid_seconds,
        multilabel=config.train.objective == "multilabel",
    )


def load_teacher(
    path: str | Path,
    labels: list[str],
    student_spec: AudioSpec | ImageSpec,
    temperature: float,
    alpha: float,
    cache_dir: str | None = None,
    grid_seconds: float = 0.5,
    multilabel: bool = False,
) -> Teacher | BirdNetTeacher:
    """Load a teacher run and check it can teach this student (same labels, compatible input).

    A ``birdnet_head`` run teaches any audio student (its windows are resampled to 48 kHz; scores cached on a
    grid of ``grid_seconds``); its labels are matched to the student's by name.
    """
    if str(path) == BIRDNET_TEACHER:  # BirdNET V2.4's own species scores on the same cached embeddings
        if not isinstance(student_spec, AudioSpec):
            raise ConfigError(f"train.teacher=birdnet teaches audio students; the student takes {student_spec.kind}")
        species, licence = species_head(list(labels), multilabel)
        head = TeacherHead(species, list(labels), SOURCE, licence)
        return BirdNetTeacher(head, list(labels), student_spec, temperature, alpha, cache_dir, grid_seconds, 1, True)
    trained = load_trained_model(path)
    check_objectives(trained, multilabel, str(path))
    if getattr(trained.model, "takes_embeddings", False):
        if not isinstance(student_spec, AudioSpec):
            raise ConfigError(f"teacher {path} is a birdnet_head (audio); the student takes {student_spec.kind}")
        return BirdNetTeacher(
            TeacherHead.of_run(trained),
            list(labels),
            student_spec,
            temperature,
            alpha,
            cache_dir,
            grid_seconds,
            multilabel=multilabel,
        )
    teacher_spec = trained.spec
    if type(teacher_spec) is not type(student_spec):
        raise ConfigError(f"teacher {path} takes {teacher_spec.kind} input, the student takes {student_spec.kind}")
    columns = label_columns(trained.labels, list(labels), str(path))
    # read only when the teacher's spec is an AudioSpec, so the student's is one too (same type, checked above)
    audio_student = cast(AudioSpec, student_spec)
    if isinstance(teacher_spec, AudioSpec) and (teacher_spec.sample_rate, teacher_spec.clip_samples) != (
        audio_student.sample_rate,
        audio_student.clip_samples,
    ):
        raise ConfigError(
            f"teacher {path} listens to {teacher_spec.clip_samples} samples at {teacher_spec.sample_rate} Hz, "
            f"the student to {audio_student.clip_samples} at {audio_student.sample_rate} Hz; they must match"
        )
    if isinstance(teacher_spec, ImageSpec) and isinstance(student_spec, ImageSpec):
        if teacher_spec.channels < student_spec.channels:
            raise ConfigError(
                f"teacher {path} takes 1-channel (grey) photos and cannot see the student's colour ones; "
                "distill from a 3-channel teacher, or train the student with --set model.channels=1"
            )
    teacher = Teacher(
        trained.model,
        student_spec,
        temperature,
        alpha,
        None if columns == list(range(len(trained.labels))) else columns,
        multilabel,
    )
    teacher.licence = trained.licence
    return teacher
