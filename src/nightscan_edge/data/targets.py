"""What a sample teaches under each training objective: one class index (softmax), or a multi-hot row (sigmoid).

``train.objective=multilabel`` reads every sample as a set of labels: a manifest's ``labels`` column, an
annotation window's covering calls, a folder tree's one label, and ``--background`` ambience as the empty set (an
all-zero target: no class is needed for "nothing calls"). ``single_label`` takes a multi-label set only when every
clip holds exactly one label; a clip with several (or none) is refused with one line saying which objective fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from nightscan_edge.data.errors import DataError
from nightscan_edge.data.sources import Sample
from nightscan_edge.paths import display_path
from nightscan_edge.spec import BACKGROUND_LABEL


def as_multilabel(samples: list[Sample], background: bool) -> list[Sample]:
    """Every sample with a label set; ``background`` windows (from ``--background``) with the empty one."""
    out = []
    for sample in samples:
        if sample.targets is not None:
            out.append(sample)
        elif background and sample.label == BACKGROUND_LABEL:
            out.append(replace(sample, label="", targets=()))
        else:
            out.append(replace(sample, targets=(sample.label,)))
    return out


def as_single_label(samples: list[Sample], source: str) -> list[Sample]:
    """Every sample with one label; a multi-label set whose clips hold one label each is read as single-label."""
    several = [s for s in samples if s.targets is not None and len(s.targets) != 1]
    if several:
        first = several[0]
        what = f"labels {first.label!r}" if first.targets else "no label (a negative)"
        raise DataError(
            f"{source}: {len(several)} clip(s) hold several labels or none, e.g. {display_path(first.path)} with "
            f"{what}; a softmax model takes one label per clip: train with --set train.objective=multilabel"
        )
    return [replace(s, label=s.targets[0], targets=None) if s.targets is not None else s for s in samples]


def multi_hot(classes: Sequence[Sequence[str]], labels: list[str]) -> np.ndarray:
    """``(N, C)`` float32: row ``i`` is 1 at each label sample ``i`` is positive for."""
    index = {label: i for i, label in enumerate(labels)}
    targets = np.zeros((len(classes), len(labels)), dtype=np.float32)
    for row, positives in enumerate(classes):
        targets[row, [index[label] for label in positives]] = 1.0
    return targets


def strata(targets: np.ndarray) -> list[int]:
    """One stratum per sample for samplers that draw by class: its rarest positive label, or ``C`` (one past the
    last label) for a negative -- so ``data.weighted_sampler`` balances rare labels and negatives too."""
    positives = targets.sum(axis=0)
    rarity = np.where(targets > 0, positives[None, :], np.inf)
    rarest = rarity.argmin(axis=1)
    return [int(r) if targets[i].any() else targets.shape[1] for i, r in enumerate(rarest)]


def positive_weights(targets: np.ndarray) -> np.ndarray:
    """BCE ``pos_weight`` per label from the training targets: negatives / positives, so that a rare label's few
    positives weigh as much as its many negatives (1 for a label without negatives)."""
    positives = targets.sum(axis=0).astype(np.float64)
    negatives = len(targets) - positives
    both = (positives > 0) & (negatives > 0)
    weights: np.ndarray = np.where(both, negatives / np.maximum(positives, 1.0), 1.0)
    return weights.astype(np.float32)
