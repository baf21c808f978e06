"""Each family's declared search space: typed, narrowed by a user's mapping, refused in one line when a key is
not the family's, and every point of it resolves into a valid config."""

from __future__ import annotations

import pytest

from nightscan_edge.config import resolve_config
from nightscan_edge.models import MODELS
from nightscan_edge.models.search_space import (
    SEARCH_SPACES,
    Choice,
    FloatRange,
    SearchSpaceError,
    search_space,
)


def test_every_edge_family_has_a_space_and_server_families_are_refused_by_name():
    edge = {name for name in MODELS.names() if MODELS.get(name).tier == "edge"}
    assert edge <= set(SEARCH_SPACES.names())
    refused = "wide_resnet_audio. has no search space to tune; tunable families: .*ultralight"
    with pytest.raises(SearchSpaceError, match=refused):
        search_space("wide_resnet_audio")


@pytest.mark.parametrize("family", SEARCH_SPACES.names())
def test_smallest_and_largest_points_resolve_into_valid_configs(family):
    space = search_space(family)
    for pick in (0, -1):
        values = {
            key: (d.options[pick] if isinstance(d, Choice) else (d.low if pick == 0 else d.high))
            for key, d in space.dimensions.items()
        }
        config = resolve_config({"model": {"name": family}}, space.config_layer(values))
        assert config.train.lr == values["lr"]
    smallest = resolve_config({"model": {"name": family}}, space.config_layer(dict(space.smallest)))
    assert smallest.model.name == family


def test_width_multiplier_scales_every_ultralight_block_to_multiples_of_eight():
    layer = search_space("ultralight_audio").config_layer({"width_multiplier": 0.5, "n_mels": 64})
    blocks = layer["model"]["options"]["blocks"]
    assert layer["model"]["options"]["stem_channels"] == 16 and blocks[0] == [24, 1] and blocks[-1] == [128, 1]
    assert all(channels % 8 == 0 for channels, _ in blocks) and layer["model"]["audio"] == {"n_mels": 64}


def test_a_user_mapping_narrows_fixes_and_chooses():
    space = search_space("ultralight_audio").without_teacher()
    assert "distill_alpha" not in space.dimensions
    narrowed = space.narrowed({"lr": {"low": 1e-3, "high": 2e-3}, "n_mels": [32, 64], "pruning_ratio": 0.0})
    assert narrowed.dimensions["lr"] == FloatRange(1e-3, 2e-3, log=True)
    assert narrowed.dimensions["n_mels"] == Choice((32, 64)) and narrowed.smallest["n_mels"] == 32
    assert "pruning_ratio" not in narrowed.dimensions and narrowed.fixed == {"pruning_ratio": 0.0}
    assert narrowed.describe()["pruning_ratio"] == "= 0.0"


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"widths": [1]}, "'widths' not in ultralight_audio's space; it has: augment_strength"),
        ({"lr": {"low": 1e-5, "high": 1e-3}}, "outside the declared"),
        ({"n_mels": [20]}, "must be inside the declared"),
        ({"n_mels": {"low": 16, "high": 32}}, "a range is {low: X, high: Y} on a numeric key"),
        ({"dropout": "high"}, "outside"),
    ],
)
def test_a_bad_mapping_is_one_line(overrides, words):
    with pytest.raises(SearchSpaceError) as error:
        search_space("ultralight_audio").narrowed(overrides)
    assert words in str(error.value) and "\n" not in str(error.value)
