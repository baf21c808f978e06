"""Registry-driven contract: every registered model builds, runs, trains a step, meets its budget, exports."""

from __future__ import annotations

import pytest
import torch

from nightscan_edge.errors import UserError
from nightscan_edge.models import MODELS, create_lightweight_model, create_model, get_model_complexity
from nightscan_edge.models.complexity import example_input
from nightscan_edge.registry import Registry, UnknownNameError


def _buildable(name: str):
    """A family whose builder reads an optional extra's files (birdnet_backbone_audio) skips without that extra."""
    try:
        if MODELS.get(name).requires is not None:
            MODELS.get(name).requires()
    except UserError as error:
        return pytest.param(name, marks=pytest.mark.skip(reason=str(error)))
    return name


ALL_MODELS = [_buildable(n) for n in MODELS.names()]
# Models with their own spectrogram front-end; frozen-embedding ones (birdnet_head) run behind BirdNET in LiteRT,
# are never exported, and have their own tests in tests/birdnet.
FRONT_END_MODELS = [_buildable(n) for n in MODELS.names() if not MODELS.get(n).frozen_embedding]
SEED_MODELS = ["lightweight_audio", "ultralight_audio", "mobilenet_v3_small_photo"]


def test_seed_models_are_registered():
    assert set(SEED_MODELS) <= set(MODELS.names())


@pytest.mark.parametrize("name", ALL_MODELS)
def test_forward_backward_and_interface(name):
    model = create_model(name, num_classes=6)
    x = example_input(model, batch=2)
    out = model(x)
    assert out.shape == (2, 6)
    out.sum().backward()
    assert all(p.grad is not None for p in model.head.parameters())
    feats = model.features(x)
    assert feats.shape == (2, model.head.in_features)
    model.reset_head(3)
    assert model(x).shape == (2, 3) and model.num_classes == 3


@pytest.mark.parametrize(
    "name",
    [
        _buildable(n)
        for n in MODELS.names()
        if not MODELS.get(n).frozen_embedding and MODELS.get(n).input_kind == "audio"
    ],
)
def test_audio_waveform_and_spectrogram_paths_share_weights(name):
    model = create_model(name, num_classes=4).eval()
    wave = torch.randn(2, model.spec.clip_samples) * 0.1
    with torch.no_grad():
        assert torch.allclose(model.forward_waveform(wave), model(model.log_mel(wave)))


@pytest.mark.parametrize("num_classes", [6, 50])
@pytest.mark.parametrize("name", ALL_MODELS)
def test_size_budget(name, num_classes):
    model = create_model(name, num_classes=num_classes)
    complexity = get_model_complexity(model)
    budget = MODELS.get(name).budget_mb
    assert 0 < complexity["model_size_mb"] < budget, f"{name}: {complexity['model_size_mb']:.2f} MB >= {budget} MB"
    assert complexity["int8_size_mb"] < complexity["model_size_mb"]
    assert complexity["macs"] * 2 == complexity["flops"] > 0
    if MODELS.get(name).tier == "edge":  # server/teacher models are big by design
        assert complexity["mobile_compatible"], complexity["mobile_issues"]


def test_seed_sizes_are_near_their_targets():
    sizes = {n: get_model_complexity(create_model(n, 6))["model_size_mb"] for n in SEED_MODELS}
    assert 2.0 <= sizes["lightweight_audio"] < 3.0
    assert 0.6 <= sizes["ultralight_audio"] < 1.0
    assert 5.0 <= sizes["mobilenet_v3_small_photo"] < 8.0


def test_mobilenet_matches_torchvision_published_figures():
    # torchvision docs: MobileNet_V3_Small_Weights.IMAGENET1K_V1 num_params 2,542,856, "GFLOPS" 0.057.
    # torchvision's figure counts one operation per multiply-add (fvcore style), i.e. our MACs;
    # torch's FlopCounterMode counts 2 FLOPs per multiply-add.
    model = create_model("mobilenet_v3_small_photo", num_classes=1000)
    complexity = get_model_complexity(model)
    assert complexity["params"] == 2_542_856
    assert complexity["macs"] == pytest.approx(0.057e9, rel=0.03)
    assert complexity["flops"] == 2 * complexity["macs"]


def test_grayscale_photo_input():
    model = create_model("mobilenet_v3_small_photo", num_classes=5, in_channels=1)
    assert model.spec.channels == 1
    assert model(torch.zeros(1, 1, 224, 224)).shape == (1, 5)


def test_batchnorm_momentum_default_is_short_schedule_friendly():
    model = create_model("mobilenet_v3_small_photo", num_classes=5)
    momenta = {m.momentum for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert momenta == {0.1}


def test_seed_facade():
    audio = create_lightweight_model("audio", {"num_classes": 6, "input_size": (128, 128)})
    assert audio.model_name == "lightweight_audio" and audio.spec.spectrogram_shape == (1, 128, 128)
    assert audio(torch.zeros(1, 1, 128, 128)).shape == (1, 6)
    ultra = create_lightweight_model("audio_ultralight", {"num_classes": 6, "input_size": (128, 128)})
    assert ultra.model_name == "ultralight_audio"
    photo = create_lightweight_model("photo", {"num_classes": 6, "input_size": (224, 224)})
    assert photo(torch.zeros(1, 3, 224, 224)).shape == (1, 6)
    other = create_lightweight_model("audio", {"num_classes": 3, "input_size": (64, 96)})
    assert other(other.log_mel(torch.zeros(1, other.spec.clip_samples))).shape == (1, 3)
    assert other.spec.spectrogram_shape == (1, 64, 96)


def test_unknown_model_lists_known_ones():
    with pytest.raises(UnknownNameError, match="unknown model 'nope'; known: .*ultralight_audio"):
        create_model("nope", num_classes=3)
    with pytest.raises(ValueError, match="unknown model type 'video'"):
        create_lightweight_model("video", {"num_classes": 3})


@pytest.mark.parametrize("bad", [0, -1, 2.5, None, True])
def test_bad_num_classes(bad):
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        create_model("ultralight_audio", num_classes=bad)


@pytest.mark.parametrize("bad", [(128,), (8, 8), "128x128", (128, 128, 3), (12.5, 128)])
def test_bad_input_size(bad):
    with pytest.raises(ValueError, match="input_size"):
        create_model("lightweight_audio", num_classes=3, input_size=bad)


def test_registering_twice_is_an_error():
    registry: Registry[int] = Registry("thing")
    registry.add("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        registry.add("a", 2)


def test_pretrained_weights_from_local_file(tmp_path):
    from torchvision.models import mobilenet_v3_small

    reference = mobilenet_v3_small(num_classes=1000)
    path = tmp_path / "mnv3s.pth"
    torch.save(reference.state_dict(), path)
    model = create_model("mobilenet_v3_small_photo", num_classes=4, weights=str(path))
    assert torch.equal(model.body[0][0].weight, reference.features[0][0].weight)
    gray = create_model("mobilenet_v3_small_photo", num_classes=4, weights=str(path), in_channels=1)
    assert torch.allclose(gray.body[0][0].weight, reference.features[0][0].weight.sum(1, keepdim=True))


def test_pretrained_weights_offline_fails_clearly(monkeypatch, tmp_path):
    from nightscan_edge.models.mobilenet_v3_small_photo import PretrainedWeightsError

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty cache: forces a download attempt

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("torch.hub.load_state_dict_from_url", offline)
    with pytest.raises(PretrainedWeightsError, match="offline.*--weights PATH"):
        create_model("mobilenet_v3_small_photo", num_classes=4, weights="imagenet")
    with pytest.raises(PretrainedWeightsError, match="not found"):
        create_model("mobilenet_v3_small_photo", num_classes=4, weights=str(tmp_path / "missing.pth"))


@pytest.mark.parametrize("name", FRONT_END_MODELS)
def test_onnx_export_matches_pytorch(name, tmp_path):
    pytest.importorskip("onnxruntime")
    import numpy as np
    import onnxruntime

    model = create_model(name, num_classes=5).eval()
    if model.input_kind == "audio":
        module, example = _WaveformWrapper(model), torch.randn(2, model.spec.clip_samples) * 0.1
    else:
        module, example = model, torch.randn(2, *model.spec.input_shape)
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(
        module,
        (example,),
        str(path),
        input_names=["input"],
        output_names=["logits"],
        dynamo=True,
        dynamic_shapes=({0: torch.export.Dim("batch")},),
    )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": example.numpy()})[0]
    with torch.no_grad():
        expected = module(example).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)


class _WaveformWrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, waveform):
        return self.model.forward_waveform(waveform)
