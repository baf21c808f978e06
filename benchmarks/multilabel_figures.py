"""The figures of ``benchmarks/multilabel.py`` on scored test examples: what each model reports, single-species
accuracy, both species of a mixture, precision and recall on mixtures, mAP, false detections on ambience, and what
lower thresholds would buy (kept apart so ``multilabel.py`` stays the experiment)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nightscan_edge.multilabel_metrics import mean_average_precision
from nightscan_edge.spec import BACKGROUND_LABEL

THRESHOLD_SCALES = (1.0, 0.8, 0.6, 0.5)  # the trade-off figure: each class's validated threshold times these


@dataclass(frozen=True)
class Example:
    waveform: np.ndarray  # (WINDOW,) float32
    labels: tuple[str, ...]  # sorted; () for ambience alone
    kind: str


def reported(probabilities: np.ndarray, labels: list[str], thresholds: np.ndarray | None) -> list[set[str]]:
    """What each window reports: softmax its top label unless background; multi-label every class at or above
    its threshold."""
    if thresholds is None:
        return [{labels[i]} - {BACKGROUND_LABEL} for i in probabilities.argmax(1)]
    return [{labels[i] for i in np.flatnonzero(row >= thresholds)} for row in probabilities]


def species_scores(probabilities: np.ndarray, labels: list[str], species: list[str]) -> np.ndarray:
    return probabilities[:, [labels.index(s) for s in species]]


def evaluate(
    probabilities: np.ndarray,
    labels: list[str],
    thresholds: np.ndarray | None,
    test: Sequence[Example],
    species: list[str],
    ambient_probabilities: np.ndarray,
    ambient_hours: float,
) -> dict[str, Any]:
    said = reported(probabilities, labels, thresholds)
    single = [i for i, e in enumerate(test) if e.kind == "single"]
    mix2 = [i for i, e in enumerate(test) if e.kind == "mix2"]
    mixtures = [i for i, e in enumerate(test) if e.kind in ("mix2", "mix3")]
    scores = species_scores(probabilities, labels, species)
    top1 = [species[int(np.argmax(scores[i]))] if labels[int(probabilities[i].argmax())] != BACKGROUND_LABEL else ""
            for i in single]  # fmt: skip
    truth = np.array([[s in e.labels for s in species] for e in test], dtype=np.float32)
    recall_on_mixtures = {
        s: float(np.mean([s in said[i] for i in mixtures if s in test[i].labels]))
        for s in species
        if any(s in test[i].labels for i in mixtures)
    }
    ambient_said = reported(ambient_probabilities, labels, thresholds)
    tradeoff = []  # what "both species" would cost in precision with every validated threshold scaled down
    for scale in THRESHOLD_SCALES if thresholds is not None else ():
        scaled = reported(probabilities, labels, thresholds * scale)
        tradeoff.append(
            {
                "threshold_scale": scale,
                "both_reported_mix2": float(np.mean([set(test[i].labels) <= scaled[i] for i in mix2])),
                "precision_on_mixtures": _precision(scaled, test, mixtures),
            }
        )
    per_class_fp = {s: sum(s in row for row in ambient_said) / ambient_hours for s in species}
    return {
        "single_accuracy": float(np.mean([top1[k] == test[i].labels[0] for k, i in enumerate(single)])),
        "both_reported_mix2": float(np.mean([set(test[i].labels) <= said[i] for i in mix2])),
        "at_least_one_mix2": float(np.mean([bool(set(test[i].labels) & said[i]) for i in mix2])),
        # what a low threshold would cost: of the species reported on mixtures, the share that is there
        "precision_on_mixtures": _precision(said, test, mixtures),
        "recall_on_mixtures": recall_on_mixtures,
        "map": mean_average_precision(scores, truth),
        "false_detections_per_hour": float(sum(len(row) for row in ambient_said) / ambient_hours),
        "false_detections_per_hour_by_class": per_class_fp,
        **({"threshold_tradeoff": tradeoff} if tradeoff else {}),
    }


def _precision(said: list[set[str]], test: Sequence[Example], rows: list[int]) -> float:
    """Of the species reported on these examples, the share that is in them."""
    return float(sum(len(said[i] & set(test[i].labels)) for i in rows) / max(sum(len(said[i]) for i in rows), 1))
