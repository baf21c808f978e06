"""A photo run as the teacher of a photo student: fixed augmented views scored once, and unlabelled photos with
the teacher's soft labels.

Same views: the teacher scores exactly the augmented photos the student trains on (Beyer et al., "Knowledge
distillation: A good teacher is patient and consistent", CVPR 2022: a teacher that sees other views than the
student teaches less), converted to its own preprocessing (``data.photo_augment.renormalise``).

What it costs, and what is cached: the teacher is typically far larger than the student (EfficientNet-Lite0 at
128 px runs about twice as long per photo as a MobileNetV3-Small training step at 64 px on one CPU core). By
default (``train.teacher_views=0``) it scores every augmented batch live. With ``train.teacher_views=V`` each photo
gets V augmented views, drawn once from the run's seed and scored once; training then draws among those views
only, so the cache is exact -- the student trains on exactly the pixels the teacher scored -- at the price of V
distinct views per photo instead of a new one per step (the soft-label cache of Shen & Xing, "A Fast Knowledge
Distillation Framework for Visual Recognition", ECCV 2022).

Unlabelled photos (``--unlabeled DIR``) are decoded once at the student's size; each training step adds a batch of
them, augmented like the labelled photos, whose only loss is the KL divergence to the teacher's soft labels on
that same view. Their labels, if the folder has any, are never read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from nightscan_edge.data.augment import BatchParams
from nightscan_edge.data.cache import MediaCache
from nightscan_edge.data.errors import DataError
from nightscan_edge.data.photo_augment import PhotoAugment, normalise
from nightscan_edge.data.photo_views import PhotoViews
from nightscan_edge.data.prepare import check_bad_fraction, decode_all
from nightscan_edge.data.sources import unlabelled_photos
from nightscan_edge.spec import ImageSpec
from nightscan_edge.train.distill import Teacher

SCORING_BATCH = 256  # photos per teacher forward pass when scoring views


def augmented(images: torch.Tensor, params: BatchParams, augment: PhotoAugment | None, spec: ImageSpec) -> torch.Tensor:
    """uint8 photos + their drawn parameters -> the normalised model input (plain normalisation without
    augmentation)."""
    if augment is None:
        return normalise(images, spec)
    return augment.apply(images, {key: torch.as_tensor(value, device=images.device) for key, value in params.items()})


@torch.no_grad()
def score_views(
    images: torch.Tensor,
    augment: PhotoAugment | None,
    teacher: Teacher,
    views: int,
    seed: int,
    device: torch.device,
) -> PhotoViews:
    """Draw ``views`` views of every photo (parameters from ``seed`` only) and score each with the teacher once."""
    spec = teacher.student_spec
    assert isinstance(spec, ImageSpec)
    views = views if augment is not None else 1  # without augmentation every view is the photo itself
    count = len(images) * views
    params: BatchParams = augment.draw(np.random.default_rng(seed), count) if augment is not None else {}
    teacher.to(device)
    logits = []
    for start in range(0, count, SCORING_BATCH):
        rows = np.arange(start, min(start + SCORING_BATCH, count))
        batch = images[torch.from_numpy(rows // views)].to(device)
        inputs = augmented(batch, {key: value[rows] for key, value in params.items()}, augment, spec)
        logits.append(teacher.logits(inputs, inputs).float().cpu().numpy())
    return PhotoViews(params, np.concatenate(logits), views)


class UnlabeledPhotos:
    """Photos without labels at the student's size: a batch per step, augmented like the labelled photos, with the
    teacher's logits on exactly that view (live, or from ``views`` scored once)."""

    def __init__(
        self,
        images: torch.Tensor,
        augment: PhotoAugment | None,
        teacher: Teacher,
        views: PhotoViews | None = None,
    ) -> None:
        if not len(images):
            raise DataError("--unlabeled holds no readable photo")
        self.images, self.augment, self.teacher, self.views = images, augment, teacher, views
        assert isinstance(teacher.student_spec, ImageSpec)
        self.spec: ImageSpec = teacher.student_spec

    def __len__(self) -> int:
        return len(self.images)

    def to(self, device: torch.device) -> UnlabeledPhotos:
        self.images = self.images.to(device)
        return self

    def batch(self, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` random photos, augmented (student input), and the teacher's logits on the same views."""
        picks = rng.integers(0, len(self.images), size)
        if self.views is not None:
            rows = self.views.rows(picks, rng)
            params, cached = self.views.params_of(rows), torch.from_numpy(self.views.logits[rows])
        else:
            params, cached = (self.augment.draw(rng, size) if self.augment is not None else {}), None
        photos = self.images[torch.from_numpy(picks).to(self.images.device)]
        inputs = augmented(photos, params, self.augment, self.spec)
        logits = cached.to(inputs.device) if cached is not None else self.teacher.logits(inputs, inputs)
        return inputs, logits


def read_unlabeled_photos(folder: str, spec: ImageSpec, max_bad_fraction: float) -> torch.Tensor:
    """Every photo under ``folder`` as uint8 ``(N, C, S, S)`` at the student's size; unreadable ones are set aside
    (and counted against ``max_bad_fraction``), none readable is one line."""
    paths = unlabelled_photos(folder, "--unlabeled")
    arrays, bad = decode_all(paths, spec, MediaCache("memory"))
    if not arrays:
        first = bad[0][1].splitlines()[0] if bad else ""
        raise DataError(
            f"--unlabeled {folder} holds no readable photo ({len(paths)} file(s), e.g. {first}); give a folder of "
            "JPEG or PNG photos"
        )
    check_bad_fraction(bad, len(paths), max_bad_fraction, f"unreadable photos in --unlabeled {folder}")
    return torch.from_numpy(np.stack([arrays[path] for path in paths if path in arrays]))


@dataclass
class PhotoTeaching:
    """What a photo teacher adds to a run: fixed views of the training photos (None: scored live) and the
    unlabelled pool (None without ``--unlabeled``)."""

    train_views: PhotoViews | None
    unlabeled: UnlabeledPhotos | None
    note: str


def prepare_photo_teaching(
    teacher: Teacher,
    train_images: list[np.ndarray],
    augment: PhotoAugment | None,
    views: int,
    unlabeled_folder: str | None,
    max_bad_fraction: float,
    seed: int,
    device: torch.device,
) -> PhotoTeaching:
    """Score the training photos' views (``views`` > 0) and read (and score) the unlabelled photos."""
    spec = teacher.student_spec
    assert isinstance(spec, ImageSpec)
    started = time.perf_counter()
    pool = read_unlabeled_photos(unlabeled_folder, spec, max_bad_fraction) if unlabeled_folder else None
    train_views = None
    if views:
        bank = torch.from_numpy(np.stack(train_images))
        train_views = score_views(bank, augment, teacher, views, seed, device)
    unlabeled = None
    if pool is not None:
        # Views of the unlabelled photos are drawn from another stream than the training photos' own.
        pool_views = score_views(pool, augment, teacher, views, seed + 1, device) if views else None
        unlabeled = UnlabeledPhotos(pool, augment, teacher, pool_views)
    scored = (len(train_images) + (len(pool) if pool is not None else 0)) * (views if augment is not None else 1)
    note = (
        f"photo teacher: {scored} view(s) scored once in {time.perf_counter() - started:.1f} s "
        f"({views} per photo, exact cache)"
        if views
        else "photo teacher: every augmented view scored live"
    )
    if pool is not None:
        note += f"; --unlabeled: {len(pool)} photo(s) with the teacher's soft labels"
    return PhotoTeaching(train_views, unlabeled, note)
