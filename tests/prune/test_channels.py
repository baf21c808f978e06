"""Structured pruning really shrinks models, meets its targets, and checkpoints rebuild the pruned shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nightscan_edge.models import create_model, measure_complexity
from nightscan_edge.prune.architecture import apply_pruned_channels
from nightscan_edge.prune.channels import PruningTargetError, prune_model

pytest.importorskip("torch_pruning")


def _input(model, batch=2):
    torch.manual_seed(0)
    if model.input_kind == "audio":
        return torch.randn(batch, *model.spec.spectrogram_shape)
    return torch.randn(batch, *model.spec.input_shape)


@pytest.mark.parametrize(
    "name, options",
    [
        ("ultralight_audio", {"input_size": (64, 64)}),
        ("lightweight_audio", {"input_size": (64, 64)}),
        ("mobilenet_v3_small_photo", {"input_size": 64}),
    ],
)
def test_half_macs_target_shrinks_the_model_and_rebuilds_from_options(name, options):
    model = create_model(name, 5, **options).eval()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    pruned, stats = prune_model(model, target_macs=0.5)

    assert 0.35 < stats.macs_ratio <= 0.5
    assert measure_complexity(pruned).macs == stats.macs_after
    assert stats.params_after < 0.7 * stats.params_before
    assert stats.size_mb_after < 0.7 * stats.size_mb_before
    assert pruned.num_classes == 5  # the classifier's outputs are the interface: never pruned
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in original.items())  # input untouched

    rebuilt = create_model(name, 5, spec=model.spec, pruned_channels=stats.pruned_channels).eval()
    rebuilt.load_state_dict(pruned.state_dict())
    x = _input(model)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), pruned(x), rtol=0, atol=0)


def test_depthwise_layers_stay_depthwise():
    pruned, stats = prune_model(create_model("ultralight_audio", 4, input_size=(64, 64)).eval(), target_macs=0.5)
    depthwise = [m for m in pruned.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert depthwise and all(m.groups == m.in_channels == m.out_channels for m in depthwise)
    assert any(shape[2] > 1 for shape in stats.pruned_channels.values() if len(shape) == 3)


def test_size_target_alone():
    model = create_model("ultralight_audio", 4, input_size=(64, 64)).eval()
    pruned, stats = prune_model(model, target_size_mb=0.5)
    assert stats.size_mb_after <= 0.5 < stats.size_mb_before
    assert measure_complexity(pruned).model_size_mb == stats.size_mb_after


def test_pruned_audio_model_exports_to_onnx_with_the_same_outputs(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    model = create_model("ultralight_audio", 3, input_size=(64, 64)).eval()
    pruned, _ = prune_model(model, target_macs=0.5)

    class Waveform(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, waveform):
            return self.inner.forward_waveform(waveform)

    wave = torch.randn(2, model.spec.clip_samples) * 0.1
    path = tmp_path / "pruned.onnx"
    torch.onnx.export(Waveform(pruned).eval(), (wave,), str(path), input_names=["input"], dynamo=True)
    got = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"input": wave.numpy()}
    )[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, pruned.forward_waveform(wave).numpy(), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "give a target"),
        ({"target_macs": 1.5}, "between 0 and 1"),
        ({"target_macs": 0}, "between 0 and 1"),
        ({"target_size_mb": -2}, "positive size"),
        ({"target_size_mb": 1e-4}, "less aggressive target"),
    ],
)
def test_bad_or_unreachable_targets(kwargs, message):
    with pytest.raises(PruningTargetError, match=message):
        prune_model(create_model("ultralight_audio", 3, input_size=(32, 32)).eval(), step_ratio=0.3, **kwargs)


def test_pruned_channels_for_another_model_fail_clearly():
    with pytest.raises(ValueError, match="layer 'body.99' is not a Conv2d.*different model"):
        create_model("ultralight_audio", 3, pruned_channels={"body.99": [8, 8, 1]})
    with pytest.raises(ValueError, match="needs 3 positive counts"):
        apply_pruned_channels(create_model("ultralight_audio", 3), {"body.0": [1, 8]})
