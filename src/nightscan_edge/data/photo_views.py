"""Fixed augmented views of a photo set, each with a score: what an exact teacher cache holds.

A view is its augmentation parameters (``PhotoAugment.draw``), applied to the photo whenever it is drawn, so the
pixels are the same each time; the score is whatever was computed on those pixels once (a teacher's logits). Row
``photo * views + view`` holds view ``view`` of photo ``photo``. ``train.photo_teacher`` fills it; the batch data
path (``data.batches``) and the unlabelled pool draw from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nightscan_edge.data.augment import BatchParams


@dataclass
class PhotoViews:
    params: BatchParams  # augmentation parameters, one row per view
    logits: np.ndarray  # float32 (photos * views, classes)
    views: int

    def rows(self, photos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One of its views per photo, drawn with ``rng``."""
        return np.asarray(photos) * self.views + rng.integers(0, self.views, len(photos))

    def params_of(self, rows: np.ndarray) -> BatchParams:
        return {key: value[rows] for key, value in self.params.items()}
