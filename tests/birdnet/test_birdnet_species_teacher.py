"""``train.teacher=birdnet``: BirdNET V2.4's own species scores, from its classifier rows on the cached embedding,
equal to what BirdNET itself outputs; labels that are not BirdNET species, and single-label students, refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nightscan_edge.config_layers import ConfigError
from nightscan_edge.models.birdnet_extractor import BIRDNET_WINDOW_SAMPLES, get_birdnet
from nightscan_edge.spec import AudioSpec
from nightscan_edge.train.birdnet_species import species_head
from nightscan_edge.train.distill import load_teacher
from tests.birdnet.conftest import requires_birdnet

pytestmark = requires_birdnet
SPECIES = ["Strix aluco", "Tawny Owl", "Bubo bubo_Eurasian Eagle-Owl"]  # scientific, common and full names


def test_the_head_gives_birdnets_own_logits_for_the_student_species():
    head, licence = species_head(SPECIES[1:], student_multilabel=True)
    window = (0.05 * np.random.default_rng(0).standard_normal((1, BIRDNET_WINDOW_SAMPLES))).astype(np.float32)
    embedding, logits = get_birdnet().run(window)
    labels = get_birdnet().labels
    expected = logits[:, [labels.index("Strix aluco_Tawny Owl"), labels.index("Bubo bubo_Eurasian Eagle-Owl")]]
    with torch.no_grad():
        from_embedding = head(torch.from_numpy(embedding)).numpy()
    assert np.allclose(from_embedding, expected, atol=1e-4)
    assert np.allclose(head.forward_waveform(torch.from_numpy(window)).numpy(), expected, atol=1e-5)
    assert "CC BY-NC-SA" in licence


@pytest.mark.parametrize(
    ("labels", "multilabel", "words"),
    [
        (["Strix aluco", "my garden fox"], True, "'my garden fox' matches no BirdNET"),
        (["Strix aluco"], False, "train.objective=multilabel"),
    ],
    ids=["not_a_species", "single_label_student"],
)
def test_what_birdnet_cannot_teach_is_one_line(labels, multilabel, words):
    with pytest.raises(ConfigError, match=words):
        load_teacher("birdnet", labels, AudioSpec(), 2.0, 0.5, multilabel=multilabel)
