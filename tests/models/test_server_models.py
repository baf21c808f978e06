"""Server (teacher) tier: registered beside the edge models, same input contract, server-sized."""

from __future__ import annotations

import pytest
import torch

from nightscan_edge.models import create_model, list_models, measure_complexity
from nightscan_edge.models.mobilenet_v3_small_photo import PretrainedWeightsError
from nightscan_edge.spec import AudioSpec


def test_server_tier_has_one_model_per_input_kind():
    server = {entry.name: entry for entry in list_models(tier="server")}
    assert {"wide_resnet_audio", "resnet_photo"} <= set(server)
    assert server["wide_resnet_audio"].input_kind == "audio"
    assert server["resnet_photo"].input_kind == "image"
    assert all(entry.budget_mb <= 200 for entry in server.values())
    assert not {"wide_resnet_audio", "resnet_photo"} & {entry.name for entry in list_models(tier="edge")}


def test_wide_resnet_audio_is_server_sized_and_far_bigger_than_the_student():
    teacher = measure_complexity(create_model("wide_resnet_audio", 7))
    student = measure_complexity(create_model("ultralight_audio", 7))
    assert 50 <= teacher.model_size_mb < 200
    assert teacher.macs > 10 * student.macs
    assert not teacher.mobile_compatible  # flagged as too big for on-device use, by design


def test_wide_resnet_audio_takes_the_students_audio_spec():
    spec = AudioSpec(sample_rate=16000, clip_samples=16000 * 2, n_mels=64)
    teacher = create_model("wide_resnet_audio", 3, spec=spec, widths=(16, 32), blocks=(1, 1)).eval()
    student = create_model("ultralight_audio", 3, spec=spec).eval()
    wave = torch.randn(2, spec.clip_samples) * 0.1
    with torch.no_grad():
        assert teacher.forward_waveform(wave).shape == student.forward_waveform(wave).shape == (2, 3)
    assert teacher.head.in_features == 32


def test_wide_resnet_audio_rejects_mismatched_stage_options():
    with pytest.raises(ValueError, match="one positive entry per stage"):
        create_model("wide_resnet_audio", 3, widths=(16, 32), blocks=(1,))


def test_resnet_photo_depths():
    resnet18 = measure_complexity(create_model("resnet_photo", 1000))
    assert resnet18.params == 11_689_512  # torchvision's published ResNet-18 figure
    resnet50 = create_model("resnet_photo", 6, depth=50, input_size=64)
    assert 50 <= measure_complexity(resnet50).model_size_mb < 200
    assert resnet50(torch.zeros(1, 3, 64, 64)).shape == (1, 6)
    with pytest.raises(ValueError, match="depth must be one of \\[18, 50\\]"):
        create_model("resnet_photo", 6, depth=34)


def test_resnet_photo_grayscale_and_local_weights(tmp_path):
    from torchvision.models import resnet18

    reference = resnet18(num_classes=1000)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    rgb = create_model("resnet_photo", 4, weights=str(path), input_size=64)
    assert torch.equal(rgb.body[0].weight, reference.conv1.weight)
    assert torch.equal(rgb.body[4][0].conv1.weight, reference.layer1[0].conv1.weight)
    gray = create_model("resnet_photo", 4, weights=str(path), in_channels=1, input_size=64)
    assert torch.allclose(gray.body[0].weight, reference.conv1.weight.sum(1, keepdim=True))
    assert gray(torch.zeros(2, 1, 64, 64)).shape == (2, 4)


def test_resnet_photo_weights_fail_clearly(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty cache: forces a download attempt

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("torch.hub.load_state_dict_from_url", offline)
    with pytest.raises(PretrainedWeightsError, match="ResNet-18.*offline.*--weights PATH"):
        create_model("resnet_photo", 4, weights="imagenet")
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(PretrainedWeightsError, match="do not fit ResNet-18"):
        create_model("resnet_photo", 4, weights=str(wrong))
