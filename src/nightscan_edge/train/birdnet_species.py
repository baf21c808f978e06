"""BirdNET V2.4's own species scores as a teacher (``train.teacher=birdnet``), for a multi-label student whose
labels are BirdNET species.

BirdNET scores each of its 6,522 species with its own sigmoid: a multi-label teacher by construction. Its
classifier is one dense layer on the 1024-d embedding (``artifact.birdnet_tflite.birdnet_classifier`` reads it from
the model file), so the rows of the student's species score the embeddings ``BirdNetTeacher`` already caches on
its grid -- the same logits BirdNET itself gives, without running it twice. A student label maps to a species by
its full BirdNET label, scientific or common name (``Strix aluco``, ``Tawny Owl``); a label that matches none, or
several, is refused with one line, as is a single-label student (per-species sigmoids are not one distribution).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nightscan_edge.artifact.birdnet_tflite import birdnet_classifier
from nightscan_edge.birdnet.prelabel import resolve_species
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.models.birdnet_extractor import BIRDNET_LICENCE, get_birdnet, require_birdnet

BIRDNET_TEACHER = "birdnet"  # the train.teacher value naming BirdNET V2.4's own classifier
SOURCE = "BirdNET V2.4 (its own species scores)"


class BirdNetSpeciesHead(nn.Module):
    """BirdNET's classifier rows of the student's species: embeddings -> their logits; ``forward_waveform`` runs
    BirdNET on 48 kHz windows (a window the grid did not cache)."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray, species: list[int]) -> None:
        super().__init__()
        self.species = species
        self.linear = nn.Linear(weights.shape[1], len(species))
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(weights[species])))
            self.linear.bias.copy_(torch.from_numpy(np.ascontiguousarray(bias[species])))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.linear(embeddings)
        return logits

    def forward_waveform(self, windows: torch.Tensor) -> torch.Tensor:
        _, logits = get_birdnet().run(windows.numpy())
        return torch.from_numpy(np.ascontiguousarray(logits[:, self.species]))


def species_of(student_labels: list[str], birdnet_labels: list[str]) -> list[int]:
    """BirdNET's index of each student label (exactly one match each)."""
    indices = []
    for label in student_labels:
        try:
            found = resolve_species([label], birdnet_labels)
        except Exception:  # BirdNetError: not a BirdNET name (its own message speaks of --species)
            found = np.array([], dtype=int)
        if len(found) != 1:
            what = "matches no" if len(found) == 0 else f"matches {len(found)}"
            raise ConfigError(
                f"train.teacher=birdnet: the student's label '{label}' {what} BirdNET V2.4 species; name each class "
                "as BirdNET does (scientific or common name, e.g. 'Strix aluco' or 'Tawny Owl'), or distill from a "
                "birdnet_head run trained on these labels"
            )
        indices.append(int(found[0]))
    return indices


def species_head(student_labels: list[str], student_multilabel: bool) -> tuple[BirdNetSpeciesHead, str]:
    """The teacher head for the student's labels and the licence it passes on."""
    if not student_multilabel:
        raise ConfigError(
            "train.teacher=birdnet teaches BirdNET's own per-species sigmoid scores, not one distribution; train the "
            "student with --set train.objective=multilabel"
        )
    files = require_birdnet()
    birdnet_labels = [line.strip() for line in files.labels.read_text(encoding="utf-8").splitlines() if line.strip()]
    weights, bias = birdnet_classifier(files.model.read_bytes())
    return BirdNetSpeciesHead(weights, bias, species_of(student_labels, birdnet_labels)), BIRDNET_LICENCE
