"""Audio pooling (models/pooling.py): ``avg`` is the global average every earlier model had; ``avg_max`` keeps a
short call's strength where the average dilutes it, at no parameter cost."""

import pytest
import torch

from nightscan_edge.models import create_model
from nightscan_edge.models.pooling import TimeFrequencyPool


def test_avg_is_the_global_average_pool():
    x = torch.randn(3, 8, 4, 6)
    torch.testing.assert_close(TimeFrequencyPool("avg")(x), torch.nn.AdaptiveAvgPool2d(1)(x).flatten(1))


def test_avg_max_is_the_time_maximum_plus_the_time_mean_of_the_frequency_average():
    x = torch.zeros(1, 2, 4, 8)
    x[0, 0, :, 2] = 4.0  # channel 0: a call in one of 8 frames, over every band
    pooled = TimeFrequencyPool("avg_max")(x)
    torch.testing.assert_close(pooled, torch.tensor([[4.0 + 0.5, 0.0]]))
    assert TimeFrequencyPool("avg")(x)[0, 0] == pytest.approx(0.5)  # the average alone: an eighth of the call


@pytest.mark.parametrize("name", ["ultralight_audio", "lightweight_audio"])
def test_pooling_is_a_model_option_that_adds_no_parameters(name):
    plain = create_model(name, num_classes=4)
    pooled = create_model(name, num_classes=4, pooling="avg_max")
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in pooled.parameters())
    pooled.load_state_dict(plain.state_dict())  # same keys: an avg checkpoint loads into an avg_max model
    assert pooled.eval()(torch.randn(2, 1, 128, 128)).shape == (2, 4)


@pytest.mark.parametrize("bad", ["max", "", "AVG", None])
def test_an_unknown_pooling_is_refused_with_the_choices(bad):
    with pytest.raises(ValueError, match="pooling must be one of avg, avg_max"):
        create_model("ultralight_audio", num_classes=4, pooling=bad)
